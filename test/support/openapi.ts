import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import { buildSpec } from '../../src/http/openapi/spec.js';

type Spec = ReturnType<typeof buildSpec>;
type MediaTypes = Record<string, { schema: unknown }>;
type Operation = { responses: Record<string, { content?: MediaTypes }> };

let state: { spec: Spec; ajv: Ajv2020; routes: Array<{ template: string; regex: RegExp; literals: number }> } | undefined;

function load() {
  if (state) return state;
  const spec = buildSpec();
  // strict off: the document holds OpenAPI keywords (paths, operationId, ...) around the schemas it is compiled for.
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  (formats as unknown as { default: (a: Ajv2020) => void }).default(ajv);
  ajv.addSchema(spec, 'openapi');
  const routes = Object.keys(spec.paths).map((template) => ({
    template,
    regex: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{\w+\}/g, '[^/]+')}$`),
    literals: template.split('/').filter((s) => s && !s.startsWith('{')).length,
  }));
  state = { spec, ajv, routes };
  return state;
}

const validators = new Map<string, ValidateFunction>();
const pointer = (...parts: string[]) => `openapi#/${parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`;

function validator(ref: string): ValidateFunction {
  let v = validators.get(ref);
  if (!v) validators.set(ref, (v = load().ajv.compile({ $ref: ref })));
  return v;
}

/** The spec's path template a request path falls under (the most literal one), if any. */
export function templateOf(urlPath: string): string | undefined {
  const path = urlPath.split('?')[0]!;
  return load()
    .routes.filter((r) => r.regex.test(path))
    .sort((a, b) => b.literals - a.literals)[0]?.template;
}

/**
 * What is wrong with a response as the spec describes it: an undocumented route or status, a content type the
 * operation does not answer with, or a JSON body that does not match its schema. Empty when the response fits.
 */
export function responseProblems(method: string, urlPath: string, status: number, contentType: string | null, body: unknown): string[] {
  const { spec } = load();
  const m = method.toLowerCase();
  if (m === 'head' || m === 'options') return [];
  const where = `${method} ${urlPath.split('?')[0]} -> ${status}`;
  const template = templateOf(urlPath);
  const op = template ? ((spec.paths as Record<string, Record<string, Operation>>)[template]?.[m]) : undefined;
  const json = (contentType ?? '').split(';')[0]!.trim() === 'application/json';
  if (!op || !template) {
    // No such operation: the service answers an error (404, 405), which must still be the error shape.
    if (status < 400) return [`${where}: the route is not in the OpenAPI spec`];
    return json ? check(validator('openapi#/components/schemas/Error'), body, where) : [];
  }
  const key = op.responses[String(status)] ? String(status) : status >= 400 ? 'default' : undefined;
  if (!key) return [`${where}: status ${status} is not documented for ${m.toUpperCase()} ${template}`];
  const content = op.responses[key]!.content;
  if (!content) return status === 204 || body === '' ? [] : [`${where}: a body where the spec documents none`];
  const type = (contentType ?? '').split(';')[0]!.trim();
  if (!content[type]) return [`${where}: content type ${type || '(none)'} is not one of ${Object.keys(content).join(', ')}`];
  if (!json) return [];
  return check(validator(pointer('paths', template, m, 'responses', key, 'content', type, 'schema')), body, where);
}

function check(validate: ValidateFunction, body: unknown, where: string): string[] {
  if (validate(body)) return [];
  return (validate.errors ?? []).map((e) => `${where}: body${e.instancePath} ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);
}
