import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { event, startTestService, type TestService } from '../../../../test/support/service.js';

let svc: TestService;

const tokens = [
  { key: 'e1', customerRef: 'c1', ts: '2026-03-07T23:30:00Z', quantity: '1.5', model: 'a', region: 'eu' },
  { key: 'e2', customerRef: 'c1', ts: '2026-03-08T04:30:00Z', quantity: '2', model: 'b', region: 'eu' },
  { key: 'e3', customerRef: 'c1', ts: '2026-03-08T05:30:00Z', quantity: '4', model: 'a', region: 'us' },
  { key: 'e4', customerRef: 'c2', ts: '2026-03-08T12:00:00Z', quantity: '8', model: 'a', region: 'eu' },
  { key: 'e5', customerRef: 'c2', ts: '2026-03-09T03:59:00Z', quantity: '16', model: 'b', region: 'eu' },
  { key: 'e6', customerRef: 'c2', ts: '2026-03-09T04:01:00Z', quantity: '32', model: 'a', region: 'eu' },
];
const users = [
  { ts: '2026-03-07T10:00:00Z', user: 'u1', region: 'eu' },
  { ts: '2026-03-08T10:00:00Z', user: 'u2', region: 'eu' },
  { ts: '2026-03-08T11:00:00Z', user: 'u1', region: 'eu' },
  { ts: '2026-03-09T10:00:00Z', user: 'u3', region: 'us' },
  { ts: '2026-03-09T11:00:00Z', user: 'u1', region: 'eu' },
];

beforeAll(async () => {
  svc = await startTestService({ EVENT_RETENTION: 'P3650D', LATENESS_WINDOW: 'P3650D', USAGE_QUERY_MAX_ROWS: '5', USAGE_QUERY_MAX_WINDOWS: '1000' });
  for (const body of [
    { tenantId: 'demo', metric: 'm_tokens', aggregation: 'sum', dimensions: ['model', 'region'] },
    { tenantId: 'demo', metric: 'm_users', aggregation: 'unique_count', uniqueBy: 'user', dimensions: ['region'] },
  ]) {
    expect((await svc.request('POST', '/v1/meters', { body })).status).toBe(201);
  }
  const events = [
    ...tokens.map((t) => event({ metric: 'm_tokens', customerRef: t.customerRef, ts: t.ts, quantity: t.quantity, idempotencyKey: t.key, meta: { model: t.model, region: t.region } })),
    ...tokens.map((t) => event({ metric: 'm_plain', customerRef: t.customerRef, ts: t.ts, quantity: t.quantity, idempotencyKey: `p-${t.key}` })),
    ...users.map((u, i) => event({ metric: 'm_users', ts: u.ts, idempotencyKey: `u${i}`, meta: { user: u.user, region: u.region } })),
  ];
  const r = await svc.request('POST', '/v1/events/ingest', { body: { events } });
  expect(r.body.accepted, JSON.stringify(r.body)).toBe(events.length);
});
afterAll(async () => {
  await svc?.destroy();
});

async function query(params: Record<string, string>) {
  return svc.request('GET', `/v1/usage/query?${new URLSearchParams({ tenantId: 'demo', ...params })}`);
}
async function rows(params: Record<string, string>) {
  const r = await query(params);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.rows;
}

const day = (start: string, end: string) => ({ windowStart: `${start}.000Z`, windowEnd: `${end}.000Z` });

describe('GET /v1/usage/query', () => {
  it('groups by customer in days of a given time zone, across a DST change (a 23-hour day)', async () => {
    const got = await rows({ metric: 'm_tokens', window: 'P1D', timezone: 'America/New_York', from: '2026-03-07T05:00:00Z', to: '2026-03-10T04:00:00Z', groupBy: 'customerRef' });
    expect(got).toEqual([
      { ...day('2026-03-07T05:00:00', '2026-03-08T05:00:00'), customerRef: 'c1', dimensions: {}, value: '3.5' },
      { ...day('2026-03-08T05:00:00', '2026-03-09T04:00:00'), customerRef: 'c1', dimensions: {}, value: '4' },
      { ...day('2026-03-08T05:00:00', '2026-03-09T04:00:00'), customerRef: 'c2', dimensions: {}, value: '24' },
      { ...day('2026-03-09T04:00:00', '2026-03-10T04:00:00'), customerRef: 'c2', dimensions: {}, value: '32' },
    ]);
  });

  it('groups by a dimension and filters on another, in the tenant zone by default', async () => {
    const got = await rows({ metric: 'm_tokens', window: 'P1D', from: '2026-03-07T00:00:00Z', to: '2026-03-10T00:00:00Z', groupBy: 'model', 'filter.region': 'eu' });
    expect(got.map((r: { windowStart: string; dimensions: object; value: string }) => [r.windowStart.slice(0, 10), r.dimensions, r.value])).toEqual([
      ['2026-03-07', { model: 'a' }, '1.5'],
      ['2026-03-08', { model: 'a' }, '8'],
      ['2026-03-08', { model: 'b' }, '2'],
      ['2026-03-09', { model: 'a' }, '32'],
      ['2026-03-09', { model: 'b' }, '16'],
    ]);
    expect(await rows({ metric: 'm_tokens', window: 'P1D', from: '2026-03-08T00:00:00Z', to: '2026-03-09T00:00:00Z', 'filter.region': 'us', customerRef: 'c1' })).toEqual([
      { ...day('2026-03-08T00:00:00', '2026-03-09T00:00:00'), dimensions: {}, value: '4' },
    ]);
  });

  it('answers minutes from the events and hours from the states alike', async () => {
    const range = { metric: 'm_tokens', from: '2026-03-08T04:00:00Z', to: '2026-03-08T06:00:00Z' };
    expect(await rows({ ...range, window: 'PT1M' })).toEqual([
      { ...day('2026-03-08T04:30:00', '2026-03-08T04:31:00'), dimensions: {}, value: '2' },
      { ...day('2026-03-08T05:30:00', '2026-03-08T05:31:00'), dimensions: {}, value: '4' },
    ]);
    expect(await rows({ ...range, window: 'PT1H' })).toEqual([
      { ...day('2026-03-08T04:00:00', '2026-03-08T05:00:00'), dimensions: {}, value: '2' },
      { ...day('2026-03-08T05:00:00', '2026-03-08T06:00:00'), dimensions: {}, value: '4' },
    ]);
  });

  it('cuts days at local midnight in a zone with a half-hour offset', async () => {
    expect(await rows({ metric: 'm_tokens', window: 'P1D', timezone: 'Asia/Kolkata', from: '2026-03-07T18:30:00Z', to: '2026-03-09T18:30:00Z' })).toEqual([
      { ...day('2026-03-07T18:30:00', '2026-03-08T18:30:00'), dimensions: {}, value: '15.5' },
      { ...day('2026-03-08T18:30:00', '2026-03-09T18:30:00'), dimensions: {}, value: '48' },
    ]);
  });

  it("reads days in the tenant's own zone from the daily states: half-hour offsets and a 23-hour day", async () => {
    for (const [id, timezone] of [['kol', 'Asia/Kolkata'], ['ber', 'Europe/Berlin']]) {
      expect((await svc.request('POST', '/v1/admin/tenants', { body: { id, timezone } })).status).toBe(201);
      expect((await svc.request('POST', '/v1/meters', { body: { tenantId: id, metric: 'm_tokens', aggregation: 'sum', dimensions: ['model'] } })).status).toBe(201);
    }
    const kolkata = tokens.map((t) => event({ tenantId: 'kol', metric: 'm_tokens', customerRef: t.customerRef, ts: t.ts, quantity: t.quantity, idempotencyKey: t.key, meta: { model: t.model } }));
    // Berlin's 29 March 2026 lasts 23 hours: 2026-03-28T23:00Z to 2026-03-29T22:00Z.
    const berlin = [
      ['b1', '2026-03-28T22:59:00Z', '1'],
      ['b2', '2026-03-28T23:30:00Z', '2'],
      ['b3', '2026-03-29T21:30:00Z', '4'],
      ['b4', '2026-03-29T22:30:00Z', '8'],
    ].map(([key, ts, quantity]) => event({ tenantId: 'ber', metric: 'm_tokens', ts, quantity, idempotencyKey: key, meta: { model: 'a' } }));
    expect((await svc.request('POST', '/v1/events/ingest', { body: { events: [...kolkata, ...berlin] } })).body.accepted).toBe(10);

    const kol = await svc.request('GET', `/v1/usage/query?${new URLSearchParams({ tenantId: 'kol', metric: 'm_tokens', window: 'P1D', from: '2026-03-07T18:30:00Z', to: '2026-03-09T18:30:00Z' })}`);
    expect(kol.body.rows).toEqual([
      { ...day('2026-03-07T18:30:00', '2026-03-08T18:30:00'), dimensions: {}, value: '15.5' },
      { ...day('2026-03-08T18:30:00', '2026-03-09T18:30:00'), dimensions: {}, value: '48' },
    ]);
    const ber = await svc.request('GET', `/v1/usage/query?${new URLSearchParams({ tenantId: 'ber', metric: 'm_tokens', window: 'P1D', from: '2026-03-27T23:00:00Z', to: '2026-03-30T22:00:00Z', groupBy: 'model' })}`);
    expect(ber.body.rows).toEqual([
      { ...day('2026-03-27T23:00:00', '2026-03-28T23:00:00'), dimensions: { model: 'a' }, value: '1' },
      { ...day('2026-03-28T23:00:00', '2026-03-29T22:00:00'), dimensions: { model: 'a' }, value: '6' },
      { ...day('2026-03-29T22:00:00', '2026-03-30T22:00:00'), dimensions: { model: 'a' }, value: '8' },
    ]);
    // The same days from the hourly states (the zone named explicitly, another tenant's zone) agree.
    const viaHours = await svc.request('GET', `/v1/usage/query?${new URLSearchParams({ tenantId: 'demo', metric: 'm_tokens', window: 'P1D', timezone: 'Europe/Berlin', from: '2026-03-06T23:00:00Z', to: '2026-03-09T23:00:00Z' })}`);
    expect(viaHours.body.rows.map((r: { windowStart: string; value: string }) => [r.windowStart, r.value])).toEqual([
      ['2026-03-07T23:00:00.000Z', '15.5'],
      ['2026-03-08T23:00:00.000Z', '48'],
    ]);
  });

  it('counts distinct values exactly per window: a period is not the sum of its days', async () => {
    const days = await rows({ metric: 'm_users', window: 'P1D', from: '2026-03-07T00:00:00Z', to: '2026-03-10T00:00:00Z' });
    expect(days.map((r: { value: string }) => r.value)).toEqual(['1', '2', '2']);
    const period = { metric: 'm_users', window: 'billing_period', from: '2026-03-01T00:00:00Z', to: '2026-04-01T00:00:00Z' };
    expect(await rows(period)).toEqual([{ ...day('2026-03-01T00:00:00', '2026-04-01T00:00:00'), dimensions: {}, value: '3' }]);
    expect((await rows({ ...period, groupBy: 'region' })).map((r: { dimensions: object; value: string }) => [r.dimensions, r.value])).toEqual([
      [{ region: 'eu' }, '2'],
      [{ region: 'us' }, '1'],
    ]);
  });

  it('answers a metric without a meter from the usage counters (a sum, no dimensions)', async () => {
    const got = await rows({ metric: 'm_plain', window: 'P1D', from: '2026-03-08T00:00:00Z', to: '2026-03-09T00:00:00Z', groupBy: 'customerRef' });
    expect(got.map((r: { customerRef: string; value: string }) => [r.customerRef, r.value])).toEqual([
      ['c1', '6'],
      ['c2', '8'],
    ]);
    const r = await query({ metric: 'm_plain', window: 'P1D', from: '2026-03-08T00:00:00Z', to: '2026-03-09T00:00:00Z', groupBy: 'model' });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('unknown_dimension');
  });

  it.each([
    [{ groupBy: 'customerRef,color' }, 'unknown_dimension'],
    [{ 'filter.color': 'red' }, 'unknown_dimension'],
    [{ groupBy: 'model,model' }, 'invalid_request'],
    [{ from: '2026-03-07T00:30:00Z' }, 'window_misaligned'],
    [{ to: '2026-03-09T12:00:00Z' }, 'window_misaligned'],
    [{ window: 'PT1M', to: '2026-03-09T00:00:00Z' }, 'too_many_windows'],
    [{ groupBy: 'customerRef,model' }, 'too_many_rows'],
    [{ timezone: 'Mars/Olympus' }, 'invalid_request'],
    [{ window: 'billing_period', from: '2026-03-01T00:00:00Z', to: '2026-04-01T00:00:00Z', timezone: 'Europe/Berlin' }, 'invalid_request'],
    [{ window: 'P1W' }, 'invalid_request'],
    [{ from: '2026-03-10T00:00:00Z' }, 'invalid_request'],
    [{ limit: '10' }, 'invalid_request'],
  ])('refuses %j with a 400 %s', async (override, code) => {
    const r = await query({ metric: 'm_tokens', window: 'P1D', from: '2026-03-07T00:00:00Z', to: '2026-03-10T00:00:00Z', ...override });
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(r.body.error.code).toBe(code);
    expect(r.body.error.message).toBeTruthy();
  });

  it('takes one value per filter', async () => {
    const r = await svc.request('GET', '/v1/usage/query?tenantId=demo&metric=m_tokens&window=P1D&from=2026-03-07T00:00:00Z&to=2026-03-10T00:00:00Z&filter.region=eu&filter.region=us');
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_request');
  });
});
