import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toClickHouseTime } from '../../../storage/time.js';
import { event, startTestService, type TestService } from '../../../../test/support/service.js';

// Totals never wrap into a wrong value: an event carries less than 10^15, and every total the API and the push job
// read is summed as Decimal256 (docs/totals.md).
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.destroy();
});

const largest = '999999999999999.999999';
const ingest = (events: unknown[]) => svc.request('POST', '/v1/events/ingest', { body: { events } });
const get = async (path: string) => {
  const r = await svc.request('GET', path);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
};
// One instant for every event, and the UTC billing period it falls in (the demo tenant is UTC).
const at = new Date();
const period = at.toISOString().slice(0, 7);
const usagePath = (metric: string) => `/v1/usage?tenantId=demo&metric=${metric}&period=${period}`;
const historyPath = (metric: string) =>
  `/v1/usage/history?${new URLSearchParams({ tenantId: 'demo', metric, step: 'day', since: new Date(Date.now() - 3 * 86400_000).toISOString(), until: new Date(Date.now() + 86400_000).toISOString() })}`;

describe('per-event quantity bound', () => {
  it('accepts the largest quantity and refuses the smallest beyond it, per event, naming the field', async () => {
    const r = await ingest([
      event({ metric: 'm_bound', quantity: largest, idempotencyKey: 'largest', ts: at.toISOString() }),
      event({ metric: 'm_bound', quantity: '1000000000000000', idempotencyKey: 'too-large' }),
      // The report: two of these were accepted and /v1/usage answered a negative total.
      event({ metric: 'm_bound', quantity: '9'.repeat(32), idempotencyKey: 'nines-1' }),
      event({ metric: 'm_bound', quantity: 1e15, idempotencyKey: 'too-large-number' }),
    ]);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ accepted: 1, rejected: 3 });
    for (const i of [1, 2, 3]) {
      expect(r.body.results[i].error).toEqual({
        code: 'invalid_event',
        field: `events[${i}].quantity`,
        message: 'quantity must be below 1000000000000000 (at most 15 integer digits)',
      });
    }
    expect((await get(usagePath('m_bound'))).total).toBe(largest);
  });

  it('keeps a sum of many maxima exact, in the period total and the history', async () => {
    const events = Array.from({ length: 5000 }, (_, i) => event({ metric: 'm_max', quantity: largest, idempotencyKey: `max-${i}`, ts: at.toISOString() }));
    const r = await ingest(events);
    expect(r.body).toMatchObject({ accepted: 5000, rejected: 0 });
    const u = await get(usagePath('m_max'));
    expect(u.total).toBe('4999999999999999999.995');
    expect(u.customers).toEqual([{ customerRef: 'cus_1', total: '4999999999999999999.995', events: 5000 }]);
    expect((await get(historyPath('m_max'))).total).toBe('4999999999999999999.995');
  });
});

describe('sums in queries', () => {
  it('the engine wraps sum() over Decimal(38, 6) silently (measured): why the queries sum Decimal256', async () => {
    const rs = await svc.deps.storage.api.query({
      query: `SELECT toString(sum(q)) AS wrapped, toString(sum(toDecimal256(q, 6))) AS exact
              FROM (SELECT toDecimal128('${'9'.repeat(32)}', 6) AS q FROM numbers(2))`,
      format: 'JSONEachRow',
    });
    expect(await rs.json()).toEqual([{ wrapped: '-140282366920938463463374607431770.211456', exact: '199999999999999999999999999999998' }]);
  });

  it('counters holding totals near the column limit (written before the bound) add up exactly, never negative', async () => {
    // Two customers in one hour: each row is within Decimal(38, 6); their sum is not.
    const hour = new Date(Math.floor(at.getTime() / 3600_000) * 3600_000);
    const near = '9'.repeat(32);
    const row = (customer_ref: string) => ({ tenant_id: 'demo', metric: 'm_near', customer_ref, quantity: near, events: 1 });
    await svc.deps.storage.jobs.insert({
      table: 'usage_hourly_counters',
      values: ['cus_a', 'cus_b'].map((c) => ({ ...row(c), hour: toClickHouseTime(hour.getTime()).slice(0, 19), period })),
      format: 'JSONEachRow',
    });
    await svc.deps.storage.jobs.insert({ table: 'usage_period_counters', values: ['cus_a', 'cus_b'].map((c) => ({ ...row(c), period })), format: 'JSONEachRow' });
    const twice = '199999999999999999999999999999998';
    expect((await get(usagePath('m_near'))).total).toBe(twice);
    expect((await get(historyPath('m_near'))).total).toBe(twice);
  });
});
