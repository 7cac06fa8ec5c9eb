import { readFileSync } from 'node:fs';
import type { Router } from '@koa/router';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/http/app.js';
import { buildSpec, openapiPath, specText } from '../../src/http/openapi/spec.js';
import { responseProblems } from '../support/openapi.js';
import { event, startTestService, type TestService } from '../support/service.js';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ PUSH_INTERVAL: 'PT1H', RECON_INTERVAL: 'PT1H' });
});
afterAll(async () => {
  await svc?.destroy();
});

/** 'METHOD /path/{param}' of every route the app's routers serve (HEAD rides along with GET). */
function appRoutes(): string[] {
  const app = createApp(svc.deps);
  const routes = new Set<string>();
  for (const mw of app.middleware as Array<{ router?: Router }>) {
    for (const layer of mw.router?.stack ?? []) for (const m of layer.methods) if (m !== 'HEAD') routes.add(`${m} ${openapiPath(String(layer.path))}`);
  }
  return [...routes].sort();
}

const specRoutes = (spec: { paths: Record<string, object> }) =>
  Object.entries(spec.paths)
    .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();

describe('OpenAPI spec', () => {
  it('describes every route the app serves, and no other', () => {
    expect(specRoutes(buildSpec())).toEqual(appRoutes());
  });

  it('is checked in as generated: run `npm run openapi` after changing a route or schema', () => {
    expect(readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8')).toBe(specText());
  });

  it('gives every authenticated operation the bearer scheme, its parameters, body, and error responses', () => {
    const spec = buildSpec();
    expect(spec.openapi).toBe('3.1.0');
    expect(spec.components.securitySchemes.bearerAuth).toEqual(expect.objectContaining({ type: 'http', scheme: 'bearer' }));
    const paths = spec.paths as Record<string, Record<string, any>>;
    for (const [path, ops] of Object.entries(paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const name = `${method} ${path}`;
        expect(op.responses.default?.content['application/json'].schema, name).toEqual({ $ref: '#/components/schemas/Error' });
        for (const param of path.match(/\{\w+\}/g) ?? []) {
          expect(op.parameters.some((p: any) => p.in === 'path' && `{${p.name}}` === param), `${name} ${param}`).toBe(true);
        }
        if (op.security === undefined) {
          expect(op.responses['401'].description, name).toContain('`unauthorized`');
          expect(op.responses['403'].description, name).toContain('`forbidden`');
        }
      }
    }
    const ingest = paths['/v1/events/ingest']!.post;
    expect(ingest.requestBody.content['application/json'].schema.properties.events.items.required).toEqual(['tenantId', 'metric', 'customerRef', 'quantity', 'ts']);
    expect(ingest.responses['413'].description).toContain('payload_too_large');
    expect(paths['/v1/events']!.get.parameters.map((p: any) => p.name)).toEqual(expect.arrayContaining(['tenantId', 'limit', 'cursor']));
    expect(spec.components.schemas.Error.required).toEqual(['error', 'requestId']);
  });

  it('is served at GET /openapi.json without a key, as the checked-in copy', async () => {
    const r = await svc.request('GET', '/openapi.json', { key: null });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    expect(r.body).toEqual(JSON.parse(readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8')));
  });

  it("checks responses against the spec: the test helper refuses one that drifted from the handlers", async () => {
    const r = await svc.request('POST', '/v1/events/ingest', { body: { events: [event({ idempotencyKey: 'spec-1' }), { nope: 1 }] } });
    expect(r.status).toBe(200);
    expect(responseProblems('POST', '/v1/events/ingest', 200, 'application/json', r.body)).toEqual([]);
    const drifted = { ...r.body, results: r.body.results.map((x: object) => ({ ...x, extra: true })) };
    expect(responseProblems('POST', '/v1/events/ingest', 200, 'application/json', drifted).join('\n')).toContain('must NOT have additional properties');
    expect(responseProblems('POST', '/v1/events/ingest', 201, 'application/json', r.body)).toEqual([expect.stringContaining('status 201 is not documented')]);
    expect(responseProblems('GET', '/v1/nowhere', 200, 'application/json', {})).toEqual([expect.stringContaining('not in the OpenAPI spec')]);
    // Each documented error status lists its codes: a handler answering an unlisted one is caught.
    const unknownTenant = await svc.request('GET', '/v1/usage?tenantId=nobody&metric=requests');
    expect(unknownTenant.body.error.code).toBe('unknown_tenant');
    const renamed = { ...unknownTenant.body, error: { ...unknownTenant.body.error, code: 'no_such_tenant' } };
    expect(responseProblems('GET', '/v1/usage', 404, 'application/json', renamed).join('\n')).toContain('must be equal to one of the allowed values');
    const error = await svc.request('GET', '/v1/usage?tenantId=demo', {});
    expect(error.status).toBe(400);
    expect(responseProblems('GET', '/v1/usage', 400, 'application/json', { error: { code: 'invalid_request' } }).sort()).toEqual([
      expect.stringContaining("body must have required property 'requestId'"),
      expect.stringContaining("body/error must have required property 'message'"),
    ]);
  });
});
