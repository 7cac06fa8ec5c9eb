import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { event, startTestService, type TestService } from '../../test/support/service.js';

let svc: TestService;

beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.destroy();
});

const define = (body: unknown, key?: string) => svc.request('POST', '/v1/meters', { body, key });

describe('meter definitions', () => {
  it('creates, reads, lists, replaces and deletes a definition', async () => {
    const created = await define({ tenantId: 'demo', metric: 'm_seats', aggregation: 'max', dimensions: ['region', 'plan'] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ tenantId: 'demo', metric: 'm_seats', aggregation: 'max', uniqueBy: '', dimensions: ['region', 'plan'] });

    expect((await svc.request('GET', '/v1/meters/demo/m_seats')).body).toMatchObject({ aggregation: 'max', dimensions: ['region', 'plan'] });
    const listed = await svc.request('GET', '/v1/meters?tenantId=demo');
    expect(listed.body.meters.map((m: { metric: string }) => m.metric)).toContain('m_seats');

    const again = await define({ tenantId: 'demo', metric: 'm_seats', aggregation: 'sum' });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('meter_exists');

    const replaced = await svc.request('PUT', '/v1/meters/demo/m_seats', { body: { aggregation: 'unique_count', uniqueBy: 'user' } });
    expect(replaced.status, JSON.stringify(replaced.body)).toBe(200);
    expect(replaced.body).toMatchObject({ aggregation: 'unique_count', uniqueBy: 'user', dimensions: [] });

    expect((await svc.request('DELETE', '/v1/meters/demo/m_seats')).status).toBe(204);
    expect((await svc.request('GET', '/v1/meters/demo/m_seats')).status).toBe(404);
    expect((await svc.request('DELETE', '/v1/meters/demo/m_seats')).status).toBe(404);
  });

  it.each([
    [{ tenantId: 'demo', metric: 'm_bad', aggregation: 'median' }, 'aggregation'],
    [{ tenantId: 'demo', metric: 'm_bad', aggregation: 'unique_count' }, 'uniqueBy'],
    [{ tenantId: 'demo', metric: 'm_bad', aggregation: 'sum', uniqueBy: 'user' }, 'uniqueBy'],
    [{ tenantId: 'demo', metric: 'm_bad', aggregation: 'sum', dimensions: ['a', 'a'] }, 'dimensions'],
    [{ tenantId: 'demo', metric: 'm_bad', aggregation: 'sum', dimensions: ['a', 'b', 'c', 'd', 'e', 'f'] }, 'dimensions'],
    [{ tenantId: 'demo', metric: 'm_bad', aggregation: 'sum', dimensions: ['a,b'] }, 'dimensions[0]'],
    [{ tenantId: 'demo', metric: 'm_bad', aggregation: 'sum', dimensions: ['customerRef'] }, 'dimensions[0]'],
    [{ tenantId: 'demo', metric: 'm_bad', aggregation: 'sum', extra: 1 }, ''],
    [{ tenantId: 'demo', metric: 'm bad', aggregation: 'sum' }, 'metric'],
  ])('refuses %j with a 400 naming %s', async (body, path) => {
    const r = await define(body);
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(r.body.error.code).toBe('invalid_request');
    expect(r.body.error.issues[0].path).toBe(path);
    expect((await svc.request('GET', '/v1/meters/demo/m_bad')).status).toBe(404);
  });

  it('needs the admin scope to change and read to list', async () => {
    const reader = await svc.request('POST', '/v1/admin/api-keys', { body: { tenantId: 'demo', scopes: ['read'] } });
    expect(reader.status).toBe(201);
    const key = reader.body.key as string;
    expect((await define({ tenantId: 'demo', metric: 'm_scoped', aggregation: 'count' }, key)).status).toBe(403);
    expect((await svc.request('GET', '/v1/meters?tenantId=demo', { key })).status).toBe(200);
    expect((await svc.request('DELETE', '/v1/meters/demo/m_scoped', { key })).status).toBe(403);
  });

  it('fixes a definition once its metric has events: a change or delete is a 409, the same definition is fine', async () => {
    expect((await define({ tenantId: 'demo', metric: 'm_fixed', aggregation: 'count' })).status).toBe(201);
    const ingested = await svc.request('POST', '/v1/events/ingest', { body: { events: [event({ metric: 'm_fixed' })] } });
    expect(ingested.body.accepted).toBe(1);

    const changed = await svc.request('PUT', '/v1/meters/demo/m_fixed', { body: { aggregation: 'sum' } });
    expect(changed.status).toBe(409);
    expect(changed.body.error.code).toBe('meter_has_events');
    expect((await svc.request('PUT', '/v1/meters/demo/m_fixed', { body: { aggregation: 'count' } })).status).toBe(200);
    expect((await svc.request('DELETE', '/v1/meters/demo/m_fixed')).status).toBe(409);
    expect((await svc.request('GET', '/v1/meters/demo/m_fixed')).body.aggregation).toBe('count');

    // A metric with events but no definition is a sum: it cannot be given another meter afterwards.
    await svc.request('POST', '/v1/events/ingest', { body: { events: [event({ metric: 'm_plain' })] } });
    const late = await define({ tenantId: 'demo', metric: 'm_plain', aggregation: 'max' });
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('meter_has_events');
  });

  it('refuses a unique_count event without its uniqueBy meta key, and stores the others of the batch', async () => {
    expect((await define({ tenantId: 'demo', metric: 'm_users', aggregation: 'unique_count', uniqueBy: 'user' })).status).toBe(201);
    const r = await svc.request('POST', '/v1/events/ingest', {
      body: {
        events: [
          event({ metric: 'm_users', meta: { user: 'u1' } }),
          event({ metric: 'm_users', meta: { other: 'x' } }),
          event({ metric: 'm_users', meta: { user: '' } }),
          // No meta at all.
          event({ metric: 'm_users', meta: {} }),
        ],
      },
    });
    expect(r.body.accepted).toBe(1);
    expect(r.body.results[1]).toMatchObject({ status: 'rejected', error: { code: 'invalid_event', field: 'events[1].meta.user' } });
    expect(r.body.results[2].status).toBe('rejected');
    expect(r.body.results[3].status).toBe('rejected');
  });

  it('never lets events of one metric be stored under two definitions when a meter is defined during ingest', async () => {
    for (let round = 0; round < 4; round++) {
      const metric = `m_race_${round}`;
      const batches = Array.from({ length: 12 }, (_, b) =>
        Array.from({ length: 50 }, (_, i) => event({ metric, idempotencyKey: `${metric}-${b}-${i}`, meta: { user: `u${i}` } })),
      );
      const ingests = batches.map((events, b) =>
        new Promise((r) => setTimeout(r, b * 2)).then(() => svc.request('POST', '/v1/events/ingest', { body: { events } })),
      );
      const defined = new Promise((r) => setTimeout(r, round * 6)).then(() => define({ tenantId: 'demo', metric, aggregation: 'max' }));
      const results = await Promise.all([...ingests, defined]);
      const status = (results.at(-1) as { status: number }).status;
      expect([201, 409]).toContain(status);
      const rs = await svc.deps.storage.api.query({
        query: 'SELECT aggregation, count() AS n FROM events WHERE tenant_id = {t:String} AND metric = {m:String} GROUP BY aggregation',
        query_params: { t: 'demo', m: metric },
        format: 'JSONEachRow',
      });
      const byAggregation = await rs.json<{ aggregation: string; n: string }>();
      // Created: every event after it is a max event, and none came before (else it would have been refused).
      expect(byAggregation.map((r) => r.aggregation), `round ${round}: ${status}`).toEqual([status === 201 ? 'max' : '']);
    }
  });
});
