import { z } from 'zod';

/**
 * The reference page's static files: Swagger UI's, from the swagger-ui-dist package (no CDN: the page works offline),
 * and the page's own start-up script. An allow-list: the path parameter never reaches the file system.
 */
export const docsAssets = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'application/javascript; charset=utf-8',
  'init.js': 'application/javascript; charset=utf-8',
} as const;

export type DocsAsset = keyof typeof docsAssets;

export const docsAssetPathSchema = z.strictObject({ file: z.enum(Object.keys(docsAssets) as [DocsAsset, ...DocsAsset[]]) });
