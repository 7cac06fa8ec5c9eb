import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../../test/support/service.js';
import { page } from './pagination.js';

describe('page', () => {
  const items = ['d', 'a', 'c', 'b', 'e'].map((id) => ({ id }));
  it('gives the list in key order, limit at a time, until nextCursor is null', () => {
    const ids: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 5; i++) {
      const p = page(items, (x) => x.id, { limit: 2, cursor });
      ids.push(...p.items.map((x) => x.id));
      if (p.nextCursor === null) break;
      cursor = p.nextCursor;
    }
    expect(ids).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('pages by position, not offset: an item added before the cursor moves nothing', () => {
    const first = page(items, (x) => x.id, { limit: 2 });
    const next = page([...items, { id: 'aa' }], (x) => x.id, { limit: 2, cursor: first.nextCursor! });
    expect(next.items.map((x) => x.id)).toEqual(['c', 'd']);
  });

  it('refuses a cursor it did not give', () => {
    expect(() => page(items, (x) => x.id, { limit: 2, cursor: '%%%' })).toThrow(/cursor/);
    expect(() => page(items, (x) => x.id, { limit: 2, cursor: '' })).toThrow(/cursor/);
  });
});

describe('list routes', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ PUSH_INTERVAL: 'PT1H', RECON_INTERVAL: 'PT1H' });
  });
  afterAll(async () => {
    await svc?.destroy();
  });

  it('page meters and tenants with limit, cursor and nextCursor; a bad limit or cursor is a 400', async () => {
    for (const metric of ['m_e', 'm_a', 'm_d', 'm_b', 'm_c']) {
      expect((await svc.request('POST', '/v1/meters', { body: { tenantId: 'demo', metric, aggregation: 'sum' } })).status).toBe(201);
    }
    const metrics: string[] = [];
    let url = '/v1/meters?tenantId=demo&limit=2';
    for (let i = 0; i < 5; i++) {
      const r = await svc.request('GET', url);
      expect(r.status).toBe(200);
      metrics.push(...r.body.meters.map((m: { metric: string }) => m.metric));
      if (r.body.nextCursor === null) break;
      url = `/v1/meters?tenantId=demo&limit=2&cursor=${r.body.nextCursor}`;
    }
    expect(metrics).toEqual(['m_a', 'm_b', 'm_c', 'm_d', 'm_e']);
    for (const id of ['t_b', 't_a']) expect((await svc.request('POST', '/v1/admin/tenants', { body: { id } })).status).toBe(201);
    const tenants = await svc.request('GET', '/v1/admin/tenants?limit=1');
    expect(tenants.body).toMatchObject({ tenants: [{ id: 'demo' }], nextCursor: expect.any(String) });
    expect((await svc.request('GET', `/v1/admin/tenants?limit=5&cursor=${tenants.body.nextCursor}`)).body.tenants.map((t: { id: string }) => t.id)).toEqual(['t_a', 't_b']);
    expect((await svc.request('GET', '/v1/meters?tenantId=demo&limit=0')).status).toBe(400);
    expect((await svc.request('GET', '/v1/meters?tenantId=demo&cursor=nope!')).body.error.code).toBe('invalid_request');
  });
});
