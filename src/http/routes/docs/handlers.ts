import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Ctx } from '../../context.js';
import { HttpError } from '../../errors.js';
import { buildSpec } from '../../openapi/spec.js';
import { docsAssetPathSchema, docsAssets, type DocsAsset } from './schema.js';

let spec: ReturnType<typeof buildSpec> | undefined;

/** GET /openapi.json: the OpenAPI 3.1 description of this API, built from the handlers' schemas. No key needed. */
export const openapiJson = () => (ctx: Ctx) => {
  spec ??= buildSpec();
  ctx.set('Cache-Control', 'no-cache');
  ctx.body = spec;
};

const page = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>stripemeter API reference</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/assets/init.js"></script>
</body>
</html>
`;

// validatorUrl null: Swagger UI would otherwise send the spec to an outside validator service.
const init = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
});
`;

// Scripts and styles only from this service; Swagger UI sets inline styles and shows inline (data:) images.
const contentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; object-src 'none'; frame-ancestors 'none'";

/** GET /docs: the API reference page, rendered in the browser by Swagger UI from /openapi.json. */
export const docsPage = () => (ctx: Ctx) => {
  ctx.set('Content-Security-Policy', contentSecurityPolicy);
  ctx.type = 'text/html; charset=utf-8';
  ctx.body = page;
};

const swaggerUiDir = () => path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const loaded = new Map<DocsAsset, Buffer>();

/** GET /docs/assets/:file: one of the page's allow-listed files, read once and kept in memory. */
export const docsAsset = () => (ctx: Ctx) => {
  const parsed = docsAssetPathSchema.safeParse(ctx.params);
  if (!parsed.success) throw new HttpError(404, 'not_found', `no docs asset ${String(ctx.params.file).slice(0, 64)}`);
  const file = parsed.data.file;
  let content = loaded.get(file);
  if (!content) {
    content = file === 'init.js' ? Buffer.from(init) : readFileSync(path.join(swaggerUiDir(), file));
    loaded.set(file, content);
  }
  ctx.set('Cache-Control', 'public, max-age=3600');
  ctx.type = docsAssets[file];
  ctx.body = content;
};
