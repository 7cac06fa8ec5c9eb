import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { event, startTestService, type TestService } from '../../../test/support/service.js';

/** Idempotency-Key on POSTs, through the real HTTP server and the embedded engine. */
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ PUSH_INTERVAL: 'PT1H', RECON_INTERVAL: 'PT1H' });
  const r = await svc.request('POST', '/v1/events/ingest', { body: { events: [event({ metric: 'm_idem', customerRef: 'c', idempotencyKey: 'idem-1' })] } });
  expect(r.body.accepted).toBe(1);
});
afterAll(async () => {
  await svc?.destroy();
});

const post = (path: string, body: unknown, key?: string) => svc.request('POST', path, { body, headers: key ? { 'idempotency-key': key } : {} });
const adjustment = (delta: string) => ({ tenantId: 'demo', metric: 'm_idem', customerRef: 'c', period: new Date().toISOString().slice(0, 7), delta, reason: 'credit' });
const adjustmentsOf = async () =>
  ((await svc.request('GET', '/v1/adjustments?tenantId=demo&metric=m_idem')).body.adjustments as Array<{ delta: string }>).length;

describe('Idempotency-Key', () => {
  it('answers the first response again for the same key and request, and creates nothing twice', async () => {
    const first = await post('/v1/adjustments', adjustment('2'), 'adj-key-1');
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const again = await post('/v1/adjustments', adjustment('2'), 'adj-key-1');
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await adjustmentsOf()).toBe(1);
    // Without a key, or with another one, a second adjustment is made.
    expect((await post('/v1/adjustments', adjustment('2'), 'adj-key-2')).body.id).not.toBe(first.body.id);
    expect(await adjustmentsOf()).toBe(2);
  });

  it('refuses the same key with another request (body or path): 409 idempotency_key_reused', async () => {
    const other = await post('/v1/adjustments', adjustment('3'), 'adj-key-1');
    expect(other.status).toBe(409);
    expect(other.body.error).toMatchObject({ code: 'idempotency_key_reused', message: expect.stringMatching(/another request/) });
    const otherPath = await post('/v1/admin/tenants', { id: 'idem_t' }, 'adj-key-1');
    expect(otherPath.body.error.code).toBe('idempotency_key_reused');
    expect(await adjustmentsOf()).toBe(2);
  });

  it('keeps no refused response: a corrected request may use its key; bad keys are a 400', async () => {
    const refused = await post('/v1/admin/tenants', { id: 'bad id' }, 'tenant-key');
    expect(refused.status).toBe(400);
    const created = await post('/v1/admin/tenants', { id: 'idem_t2' }, 'tenant-key');
    expect(created.status).toBe(201);
    expect((await post('/v1/admin/tenants', { id: 'idem_t2' }, 'tenant-key')).headers.get('idempotent-replayed')).toBe('true');
    for (const key of ['has space', 'x'.repeat(256)]) {
      const r = await post('/v1/admin/tenants', { id: 'idem_t3' }, key);
      expect(r.status, key).toBe(400);
      expect(r.body.error.code).toBe('invalid_idempotency_key');
    }
  });

  it('is per API key: another caller with the same key runs its own request', async () => {
    const k = await post('/v1/admin/api-keys', { tenantId: 'demo', scopes: ['admin', 'read'] });
    const theirs = await svc.request('POST', '/v1/adjustments', { body: adjustment('2'), key: k.body.key, headers: { 'idempotency-key': 'adj-key-1' } });
    expect(theirs.status).toBe(201);
    expect(theirs.headers.get('idempotent-replayed')).toBeNull();
    expect(await adjustmentsOf()).toBe(3);
  });

  it('answers 409 idempotency_key_in_use while the first request with the key still runs', async () => {
    const body = { tenantId: 'demo', metric: 'm_idem' };
    const [a, b] = await Promise.all([post('/v1/reconciliation/run', body, 'recon-key'), post('/v1/reconciliation/run', body, 'recon-key')]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    expect([a, b].find((r) => r.status === 409)!.body.error.code).toBe('idempotency_key_in_use');
  });
});
