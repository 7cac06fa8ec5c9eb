import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roles } from '../../storage/client.js';
import { event, startTestService, type TestService } from '../../../test/support/service.js';

let svc: TestService;
let requests = 0;

beforeAll(async () => {
  svc = await startTestService({ PUSH_INTERVAL_MS: '3600000', RECON_INTERVAL_MS: '3600000' });
  const r = await svc.request('POST', '/v1/events/ingest', { body: { events: [event({ metric: 'm', idempotencyKey: 'k1' })] } });
  expect(r.status).toBe(200);
});
afterAll(() => svc?.destroy());

/** Every connection refuses every call, as a server that went away does; undone by the returned function. */
function refuseConnections(): () => void {
  const restore: Array<() => void> = [];
  for (const role of roles) {
    const client = svc.deps.storage[role] as unknown as Record<string, unknown>;
    for (const method of ['query', 'command', 'insert', 'exec'] as const) {
      const original = client[method];
      client[method] = async () => {
        throw Object.assign(new Error('connect ECONNREFUSED 10.0.0.7:8123 (user stripemeter, password hunter2)'), { code: 'ECONNREFUSED' });
      };
      restore.push(() => (client[method] = original));
    }
  }
  return () => restore.forEach((r) => r());
}

describe('storage unavailable', () => {
  const routes: Array<[string, string, unknown?]> = [
    ['GET', '/v1/usage?tenantId=demo&metric=m'],
    ['GET', `/v1/usage/history?tenantId=demo&metric=m&since=${encodeURIComponent(new Date(Date.now() - 3600_000).toISOString())}&until=${encodeURIComponent(new Date().toISOString())}`],
    ['GET', '/v1/push/status?tenantId=demo'],
    ['GET', '/v1/events?tenantId=demo'],
    ['GET', '/v1/adjustments?tenantId=demo'],
    ['POST', '/v1/adjustments', { tenantId: 'demo', metric: 'm', customerRef: 'cus_1', period: '2025-01', delta: '1', reason: 'manual', note: 'n' }],
    ['GET', '/v1/mappings?tenantId=demo'],
    ['GET', '/v1/admin/api-keys'],
  ];

  it.each(routes)('%s %s answers 503 storage_unavailable with Retry-After and nothing internal', async (method, url, body) => {
    const id = `down-${++requests}`;
    const restore = refuseConnections();
    let r: Awaited<ReturnType<TestService['request']>>;
    try {
      r = await svc.request(method, url, { body, headers: { 'x-request-id': id } });
    } finally {
      restore();
    }
    expect(r.status).toBe(503);
    expect(r.headers.get('retry-after')).toBe('1');
    expect(r.body).toEqual({ error: { code: 'storage_unavailable', message: 'storage is unavailable; retry' }, requestId: id });
    // The log line, under the same request id, has what the body leaves out.
    const logged = svc.logs.find((l) => l.requestId === id && l.msg === 'storage unavailable');
    expect(JSON.stringify(logged)).toMatch(/ECONNREFUSED/);
    // The same request succeeds once storage is back.
    expect((await svc.request(method, url, { body })).status).toBeLessThan(300);
  });

  it('leaves a fault in a statement a 500, not a 503', async () => {
    await svc.deps.storage.api.command({ query: 'RENAME TABLE adjustments TO adjustments_hidden' });
    let r: Awaited<ReturnType<TestService['request']>>;
    try {
      r = await svc.request('GET', '/v1/adjustments?tenantId=demo');
    } finally {
      await svc.deps.storage.api.command({ query: 'RENAME TABLE adjustments_hidden TO adjustments' });
    }
    expect(r.status).toBe(500);
    expect(r.body.error.code).toBe('internal_error');
  });
});

describe('unknown tenants', () => {
  it('are an error, not UTC: the store refuses them and routes answer 404 unknown_tenant', async () => {
    await expect(svc.deps.tenants.context('nope')).rejects.toMatchObject({ name: 'Error', message: 'unknown tenant: nope' });
    expect(() => svc.deps.tenants.timeZoneOf('never-loaded')).toThrow('unknown tenant: never-loaded');
    await expect(svc.deps.tenants.context('demo')).resolves.toEqual({ id: 'demo', timeZone: 'UTC', stripeAccount: undefined });
    // The reconciler resolves the tenant's zone through the store: an unknown tenant fails loudly.
    await expect(svc.deps.reconcile.runNow('nope', null)).rejects.toThrow('unknown tenant: nope');
    const r = await svc.request('GET', '/v1/reconciliation/summary?tenantId=nope');
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('unknown_tenant');
  });
});
