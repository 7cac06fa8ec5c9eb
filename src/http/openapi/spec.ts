import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { errorBodySchema } from '../errors.js';
import { packageRoot } from '../../storage/paths.js';
import { operations, takesIdempotencyKey, type Operation } from './operations.js';

type JsonSchema = Record<string, unknown>;

/** JSON Schema 2020-12 (OpenAPI 3.1's dialect) of a zod schema: what a client sends (input) or receives (output). */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;
  return rest;
}

/** `/v1/replay/:id` -> `/v1/replay/{id}` */
export const openapiPath = (routerPath: string) => routerPath.replace(/:(\w+)/g, '{$1}');

const operationId = (op: Operation) =>
  op.method + op.path.split(/[/:.-]/).filter(Boolean).map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');

const errorRef = { $ref: '#/components/schemas/Error' };

/** Error statuses that tell the client when to try again. */
const retryAfterHeaders: Record<number, JsonSchema> = Object.fromEntries(
  [429, 503, 507].map((status) => [
    status,
    { 'Retry-After': { description: 'Seconds to wait before sending the same request again', schema: { type: 'integer', minimum: 1 } } },
  ]),
);

/** Errors every operation of its kind can answer, whatever its handler does. */
function sharedErrors(op: Operation): Record<number, string[]> {
  if (op.access === 'public') return {};
  const errors: Record<number, string[]> = { 401: ['unauthorized'], 403: ['forbidden'], 503: ['storage_unavailable'] };
  if (op.query || op.params || op.body) errors[400] = ['invalid_request'];
  if (op.body) {
    Object.assign(errors, {
      400: ['invalid_request', 'invalid_json', 'invalid_body_encoding'],
      413: ['payload_too_large'],
      415: ['unsupported_media_type', 'unsupported_content_encoding'],
    });
  }
  if (takesIdempotencyKey(op)) {
    errors[400] = [...(errors[400] ?? []), 'invalid_idempotency_key'];
    errors[409] = ['idempotency_key_reused', 'idempotency_key_in_use'];
  }
  return errors;
}

const idempotencyKeyHeader = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description:
    'The same key and request within 24 hours answers the first successful response again (`Idempotent-Replayed: true`); ' +
    'with another request, 409 `idempotency_key_reused`; while the first still runs, 409 `idempotency_key_in_use`. Per API key.',
  schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$' },
};

function parameters(op: Operation) {
  const out: JsonSchema[] = takesIdempotencyKey(op) ? [idempotencyKeyHeader] : [];
  for (const [where, schema] of [['path', op.params], ['query', op.query]] as const) {
    if (!schema) continue;
    const s = jsonSchema(schema, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
    for (const [name, property] of Object.entries(s.properties ?? {})) {
      const { description, ...rest } = property;
      out.push({
        name,
        in: where,
        required: where === 'path' || (s.required ?? []).includes(name),
        ...(description ? { description } : {}),
        schema: rest,
      });
    }
  }
  return out;
}

function responses(op: Operation) {
  const out: Record<string, JsonSchema> = {};
  for (const [status, r] of Object.entries(op.responses)) {
    const content: Record<string, JsonSchema> = {};
    if (r.schema) {
      const schema = jsonSchema(r.schema, 'output');
      content['application/json'] = { schema: r.errorToo ? { anyOf: [schema, errorRef] } : schema };
    }
    for (const [type, schema] of Object.entries(r.content ?? {})) content[type] = { schema: schema ? jsonSchema(schema, 'output') : { type: 'string' } };
    out[status] = { description: r.description, ...(Object.keys(content).length > 0 ? { content } : {}) };
  }
  const errors: Record<number, Set<string>> = {};
  for (const source of [sharedErrors(op), op.errors ?? {}]) {
    for (const [status, codes] of Object.entries(source)) for (const code of codes) (errors[Number(status)] ??= new Set()).add(code);
  }
  for (const [status, codes] of Object.entries(errors)) {
    if (out[status]) continue;
    // The error shape, with the codes this status can carry here: a handler answering another one fails the tests.
    const schema = { allOf: [errorRef, { properties: { error: { properties: { code: { enum: [...codes] } } } } }] };
    const headers = retryAfterHeaders[Number(status)];
    out[status] = {
      description: `Error codes: ${[...codes].map((c) => `\`${c}\``).join(', ')}`,
      ...(headers ? { headers } : {}),
      content: { 'application/json': { schema } },
    };
  }
  out.default = { description: 'Any other error (e.g. `internal_error`), in the same shape', content: { 'application/json': { schema: errorRef } } };
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

const accessNote: Record<Operation['access'], string> = {
  public: 'No API key.',
  ingest: 'Scope `ingest` (or `admin`).',
  read: 'Scope `read` (or `admin`).',
  admin: 'Scope `admin`.',
  root: 'The service admin key only.',
  sql: 'Scope `sql`: an analyst key (no tenant) or the service admin key.',
};

/** The OpenAPI 3.1 document of the API: every route of the app, from the schemas its handlers parse with. */
export function buildSpec() {
  const version = (JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const op of operations) {
    const params = parameters(op);
    (paths[openapiPath(op.path)] ??= {})[op.method] = {
      operationId: operationId(op),
      tags: [op.tag],
      summary: op.summary,
      description: op.description ? `${op.description}\n\n${accessNote[op.access]}` : accessNote[op.access],
      ...(op.access === 'public' ? { security: [] } : {}),
      ...(params.length > 0 ? { parameters: params } : {}),
      ...(op.body
        ? {
            requestBody: {
              required: true,
              content: Object.fromEntries(
                Object.entries({ 'application/json': op.body, ...op.otherBodies }).map(([type, schema]) => [type, { schema: jsonSchema(schema, 'input') }]),
              ),
            },
          }
        : {}),
      responses: responses(op),
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'stripemeter API',
      version,
      description: 'Usage metering on ClickHouse that bills through Stripe Billing Meters. Errors are `{error: {code, message, issues?}, requestId}`.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    security: [{ bearerAuth: [] }, { apiKeyHeader: [] }],
    paths,
    components: {
      schemas: { Error: jsonSchema(errorBodySchema, 'output') },
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API key: `Authorization: Bearer <key>`' },
        apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'The same key in `X-API-Key`' },
      },
    },
  };
}

/** The spec as written to docs/openapi.json by `npm run openapi`. */
export const specText = () => `${JSON.stringify(buildSpec(), null, 2)}\n`;
