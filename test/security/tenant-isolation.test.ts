import type { Router } from '@koa/router';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/http/app.js';
import { event, startTestService, type TestService } from '../support/service.js';
import { tenantWithMeter } from '../support/stripe.js';

// Every HTTP route, tried with tenant A's keys against tenant B's resources (including the ids of B's Stripe
// bindings, runs, replays, adjustments and keys). Each attempt must be refused, and B's data must read the same after
// all of them. The route list comes from the app's own routers: a route added without a row here fails the test.
let svc: TestService;
let keys: { admin: string; read: string; ingest: string };
const b = { keyId: '', replayId: '', adjustmentId: '', reconRunId: '', stripeCustomerId: '', meterId: '' };

beforeAll(async () => {
  svc = await startTestService({ STRIPEMETER_DEMO_TENANT: 'false', PUSH_INTERVAL: 'PT1H', RECON_INTERVAL: 'PT1H' });
  const root = (method: string, path: string, body?: unknown) => svc.request(method, path, { body });
  expect((await root('POST', '/v1/admin/tenants', { id: 'tenant_a' })).status).toBe(201);
  const key = async (tenantId: string, scopes: string[]) => (await root('POST', '/v1/admin/api-keys', { tenantId, scopes })).body;
  keys = { admin: (await key('tenant_a', ['admin'])).key, read: (await key('tenant_a', ['read'])).key, ingest: (await key('tenant_a', ['ingest'])).key };

  const stripeB = await tenantWithMeter(svc, 'tenant_b', 'calls', ['b_cus']);
  b.meterId = stripeB.meterId;
  b.stripeCustomerId = (await root('GET', '/v1/customers?tenantId=tenant_b')).body.customers[0].stripeCustomerId;
  b.keyId = (await key('tenant_b', ['read'])).id;
  expect((await root('POST', '/v1/meters', { tenantId: 'tenant_b', metric: 'seats', aggregation: 'max' })).status).toBe(201);
  expect((await root('POST', '/v1/events/ingest', { events: [event({ tenantId: 'tenant_b', metric: 'calls', customerRef: 'b_cus', quantity: 3, idempotencyKey: 'b-1' })] })).status).toBe(200);
  expect((await root('POST', '/v1/push/run', { tenantId: 'tenant_b' })).body.acked).toBe(1);
  b.reconRunId = (await root('POST', '/v1/reconciliation/run', { tenantId: 'tenant_b' })).body.id;
  const period = new Date().toISOString().slice(0, 7);
  b.adjustmentId = (await root('POST', '/v1/adjustments', { tenantId: 'tenant_b', metric: 'calls', customerRef: 'b_cus', period, delta: 1, reason: 'credit' })).body.id;
  const replay = await root('POST', '/v1/replay', { tenantId: 'tenant_b', metrics: ['calls'], since: new Date(Date.now() - 3600_000).toISOString(), mode: 'dry-run' });
  b.replayId = replay.body.id;
  for (const id of Object.values(b)) expect(id).toMatch(/^\w+_\w+/);
});
afterAll(async () => {
  await svc?.destroy();
});

/** `path` (and any body value) may be a function: ids of B's objects exist only once beforeAll has made them. */
type Lazy<T> = T | (() => T);
type Attempt = { key: keyof typeof keys; path: Lazy<string>; body?: Record<string, unknown>; expect?: number[] };
const refused = [403, 404];
const since = () => new Date(Date.now() - 86_400_000).toISOString();
const until = () => new Date().toISOString();
const period = () => new Date().toISOString().slice(0, 7);

/**
 * 'METHOD /route' -> what tenant A tries. `public` routes are unauthenticated (probes and the Prometheus scrape) and
 * are checked not to show B's Stripe ids; the probes not even B's name. The scrape labels series with tenant, metric
 * and customerRef (and drift values): it is for the operator's Prometheus and must not be exposed beyond it.
 */
const matrix: Record<string, Attempt[] | 'public'> = {
  'GET /health/live': 'public',
  'GET /health/ready': 'public',
  'GET /metrics': 'public',
  'GET /openapi.json': 'public',
  'GET /docs': 'public',
  'GET /docs/assets/:file': 'public',
  'POST /v1/events/ingest': [
    { key: 'ingest', path: '', body: { events: [event({ tenantId: 'tenant_b', metric: 'calls', customerRef: 'b_cus', idempotencyKey: 'a-into-b' })] } },
    // Mixed with A's own event: the whole request is refused, nothing of it lands.
    { key: 'admin', path: '', body: { events: [event({ tenantId: 'tenant_a', idempotencyKey: 'a-own' }), event({ tenantId: 'tenant_b', metric: 'calls', customerRef: 'b_cus', idempotencyKey: 'a-mixed' })] } },
  ],
  'GET /v1/events': [{ key: 'read', path: '?tenantId=tenant_b' }, { key: 'admin', path: '?tenantId=tenant_b&customerRef=b_cus' }],
  'GET /v1/usage': [{ key: 'read', path: '?tenantId=tenant_b&metric=calls' }],
  'GET /v1/usage/history': [{ key: 'read', path: `?tenantId=tenant_b&metric=calls&since=${since()}&until=${until()}` }],
  'GET /v1/usage/query': [{ key: 'read', path: '?tenantId=tenant_b&metric=calls&window=P1D&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&groupBy=customerRef' }],
  'POST /v1/meters': [{ key: 'admin', path: '', body: { tenantId: 'tenant_b', metric: 'other', aggregation: 'max' } }],
  'GET /v1/meters': [{ key: 'read', path: '?tenantId=tenant_b' }],
  'GET /v1/meters/:tenantId/:metric': [{ key: 'read', path: 'tenant_b/seats' }],
  'PUT /v1/meters/:tenantId/:metric': [{ key: 'admin', path: 'tenant_b/seats', body: { aggregation: 'sum' } }],
  'DELETE /v1/meters/:tenantId/:metric': [{ key: 'admin', path: 'tenant_b/seats' }],
  'POST /v1/admin/tenants': [{ key: 'admin', path: '', body: { id: 'tenant_b', timezone: 'Europe/Berlin' } }, { key: 'admin', path: '', body: { id: 'tenant_c' } }],
  'GET /v1/admin/tenants': [{ key: 'admin', path: '' }],
  // A tenant's admin key may not take a backup of everyone's data, nor read one's progress.
  'POST /v1/admin/backups': [{ key: 'admin', path: '', body: { dir: 'tenant-a' } }],
  'GET /v1/admin/backups': [{ key: 'admin', path: '' }],
  'GET /v1/admin/backups/:id': [{ key: 'admin', path: 'bkp_0000000000000000' }],
  'PATCH /v1/admin/tenants/:id': [{ key: 'admin', path: 'tenant_b', body: { stripeAccount: 'acct_attacker' } }, { key: 'admin', path: 'tenant_a', body: { stripeAccount: 'acct_attacker' } }],
  'POST /v1/admin/api-keys': [{ key: 'admin', path: '', body: { tenantId: 'tenant_b', scopes: ['admin'] } }, { key: 'admin', path: '', body: { scopes: ['sql'] } }],
  'GET /v1/admin/api-keys': [{ key: 'admin', path: '?tenantId=tenant_b' }],
  'POST /v1/admin/api-keys/:id/revoke': [{ key: 'admin', path: () => `${b.keyId}/revoke` }],
  'DELETE /v1/admin/api-keys/:id': [{ key: 'admin', path: () => b.keyId }],
  'POST /v1/admin/retention/run': [{ key: 'admin', path: '' }],
  'POST /v1/mappings': [{ key: 'admin', path: '', body: { tenantId: 'tenant_b', metric: 'other', meterId: () => b.meterId } }],
  'GET /v1/mappings': [{ key: 'read', path: '?tenantId=tenant_b' }],
  'GET /v1/mappings/:tenantId/:metric': [{ key: 'read', path: 'tenant_b/calls' }],
  'PUT /v1/mappings/:tenantId/:metric': [{ key: 'admin', path: 'tenant_b/calls', body: { meterId: () => b.meterId, active: false } }],
  'DELETE /v1/mappings/:tenantId/:metric': [{ key: 'admin', path: 'tenant_b/calls' }],
  'POST /v1/customers': [
    { key: 'admin', path: '', body: { tenantId: 'tenant_b', customerRef: 'b_cus', stripeCustomerId: () => b.stripeCustomerId } },
    // B's Stripe customer bound under A's own tenant: the finding-5 attack.
    { key: 'admin', path: '', body: { tenantId: 'tenant_a', customerRef: 'stolen', stripeCustomerId: () => b.stripeCustomerId }, expect: [409] },
  ],
  'GET /v1/customers': [{ key: 'read', path: '?tenantId=tenant_b' }],
  'GET /v1/push/status': [{ key: 'read', path: '?tenantId=tenant_b' }],
  'POST /v1/push/run': [{ key: 'admin', path: '', body: { tenantId: 'tenant_b' } }],
  'POST /v1/replay': [
    { key: 'read', path: '', body: { tenantId: 'tenant_b', metrics: ['calls'], since: since(), mode: 'dry-run' } },
    { key: 'admin', path: '', body: { tenantId: 'tenant_b', metrics: ['calls'], since: since(), mode: 'apply' } },
  ],
  'GET /v1/replay': [{ key: 'read', path: '?tenantId=tenant_b' }, { key: 'admin', path: '?tenantId=tenant_b&mode=dry-run' }],
  'GET /v1/replay/:id': [{ key: 'read', path: () => b.replayId }],
  'POST /v1/adjustments': [{ key: 'admin', path: '', body: { tenantId: 'tenant_b', metric: 'calls', customerRef: 'b_cus', period: period(), delta: 100, reason: 'credit' } }],
  'GET /v1/adjustments': [{ key: 'read', path: '?tenantId=tenant_b' }],
  'GET /v1/adjustments/:id': [{ key: 'read', path: () => b.adjustmentId }],
  'POST /v1/adjustments/:id/approve': [{ key: 'admin', path: () => `${b.adjustmentId}/approve` }],
  'POST /v1/adjustments/:id/revert': [{ key: 'admin', path: () => `${b.adjustmentId}/revert` }],
  'GET /v1/reconciliation/summary': [{ key: 'read', path: '?tenantId=tenant_b' }],
  'POST /v1/reconciliation/run': [{ key: 'admin', path: '', body: { tenantId: 'tenant_b' } }],
  'GET /v1/reconciliation/runs': [{ key: 'read', path: '?tenantId=tenant_b' }],
  'GET /v1/reconciliation/runs/:id': [{ key: 'read', path: () => b.reconRunId }],
  'POST /v1/sql': [
    { key: 'admin', path: '', body: { query: "SELECT * FROM events WHERE tenant_id = 'tenant_b'" } },
    { key: 'read', path: '', body: { query: 'SELECT * FROM customer_mappings' } },
  ],
};

/** The routes the app serves, read from its routers (HEAD rides along with GET). */
function appRoutes(): string[] {
  const app = createApp(svc.deps);
  const routes = new Set<string>();
  for (const mw of app.middleware as Array<{ router?: Router }>) {
    for (const layer of mw.router?.stack ?? []) for (const m of layer.methods) if (m !== 'HEAD') routes.add(`${m} ${layer.path}`);
  }
  return [...routes].sort();
}

const resolve = (v: unknown): unknown =>
  typeof v === 'function' ? (v as () => unknown)() : Array.isArray(v) ? v.map(resolve) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(x)])) : v;

/** Tenant B as the root key reads it; what no attempt of A's may change. */
async function snapshotOfB() {
  const get = async (path: string) => {
    const r = await svc.request('GET', path);
    expect(r.status, path).toBe(200);
    return r.body;
  };
  const push = await get('/v1/push/status?tenantId=tenant_b');
  return {
    tenant: (await get('/v1/admin/tenants')).tenants.filter((t: { id: string }) => t.id === 'tenant_b'),
    tenants: (await get('/v1/admin/tenants')).tenants.map((t: { id: string }) => t.id),
    events: (await get('/v1/events?tenantId=tenant_b')).events,
    usage: await get('/v1/usage?tenantId=tenant_b&metric=calls'),
    mappings: await get('/v1/mappings?tenantId=tenant_b'),
    meters: await get('/v1/meters?tenantId=tenant_b'),
    customers: await get('/v1/customers?tenantId=tenant_b'),
    keys: await get('/v1/admin/api-keys?tenantId=tenant_b'),
    adjustments: await get('/v1/adjustments?tenantId=tenant_b'),
    push: push.items.map(({ lagSeconds: _lag, ...i }: { lagSeconds: number }) => i),
    recon: await get(`/v1/reconciliation/runs/${b.reconRunId}`),
    replay: await get(`/v1/replay/${b.replayId}`),
    runs: { recon: await get('/v1/reconciliation/runs?tenantId=tenant_b'), replay: await get('/v1/replay?tenantId=tenant_b') },
    stripeTotal: svc.deps.stripe.sandbox!.totals({ meterId: b.meterId, customer: b.stripeCustomerId }),
    tenantA: { customers: await get('/v1/customers?tenantId=tenant_a'), events: (await get('/v1/events?tenantId=tenant_a')).events },
  };
}

describe('tenant isolation matrix', () => {
  it('covers every route the app serves', () => {
    expect(appRoutes()).toEqual(Object.keys(matrix).sort());
  });

  it('refuses every attempt of tenant A on tenant B, and B reads the same afterwards', async () => {
    const before = await snapshotOfB();
    const outcomes: string[] = [];
    for (const [route, attempts] of Object.entries(matrix)) {
      const [method, pattern] = route.split(' ') as [string, string];
      if (attempts === 'public') {
        const r = await svc.request(method, pattern, { key: keys.admin });
        const text = typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
        const hidden = pattern === '/metrics' ? [b.stripeCustomerId, b.meterId] : ['tenant_b', 'b_cus', b.stripeCustomerId, b.meterId];
        for (const secret of hidden) expect(text, `${route} shows ${secret}`).not.toContain(secret);
        continue;
      }
      expect(attempts.length, route).toBeGreaterThan(0);
      for (const a of attempts) {
        const base = pattern.replace(/\/:.*$/, '');
        const suffix = String(resolve(a.path));
        const url = suffix.startsWith('?') || suffix === '' ? `${base}${suffix}` : `${base}/${suffix}`;
        const r = await svc.request(method, url, { key: keys[a.key], body: resolve(a.body) });
        const allowed = a.expect ?? refused;
        if (!allowed.includes(r.status)) outcomes.push(`${route} (${a.key}) ${url}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
        else expect(r.body.error?.code, `${route} answers an error body`).toMatch(/^[a-z_]+$/);
      }
    }
    expect(outcomes).toEqual([]);
    expect(await snapshotOfB()).toEqual(before);
  });
});
