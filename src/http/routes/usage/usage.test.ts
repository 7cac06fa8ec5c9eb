import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { periodOf } from '../../../time/period.js';
import { event, startTestService, type TestService } from '../../../../test/support/service.js';

let svc: TestService;

beforeAll(async () => {
  // Fixed March 2026 dates: keep them inside the event retention.
  // Fixed dates in March: a wide lateness window keeps events in any order counted.
  svc = await startTestService({ EVENT_RETENTION: 'P3650D', LATENESS_WINDOW: 'P3650D' });
  const berlin = await svc.request('POST', '/v1/admin/tenants', { body: { id: 'berlin', timezone: 'Europe/Berlin' } });
  expect(berlin.status).toBe(201);
});
afterAll(async () => {
  await svc?.destroy();
});

async function ingest(events: unknown[]) {
  const r = await svc.request('POST', '/v1/events/ingest', { body: { events } });
  expect(r.status).toBe(200);
  expect(r.body.rejected, JSON.stringify(r.body.results.filter((x: any) => x.status === 'rejected'))).toBe(0);
  return r.body;
}

async function usage(tenantId: string, metric: string, period?: string) {
  const r = await svc.request('GET', `/v1/usage?tenantId=${tenantId}&metric=${metric}${period ? `&period=${period}` : ''}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}

async function history(tenantId: string, metric: string, step: 'hour' | 'day', since: string, until: string) {
  const q = new URLSearchParams({ tenantId, metric, step, since, until });
  const r = await svc.request('GET', `/v1/usage/history?${q}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}

describe('billing periods through the API', () => {
  beforeAll(async () => {
    await ingest([
      // Berlin: 2026-03-31T22:00Z is local midnight of 1 April (CEST, +02:00).
      event({ tenantId: 'berlin', metric: 'm_period', quantity: 1, idempotencyKey: 'b-apr', ts: '2026-03-31T22:30:00Z' }),
      event({ tenantId: 'berlin', metric: 'm_period', quantity: 2, idempotencyKey: 'b-mar-end', ts: '2026-03-31T21:30:00Z' }),
      // 2026-02-28T23:00Z is local midnight of 1 March (CET, +01:00).
      event({ tenantId: 'berlin', metric: 'm_period', quantity: 4, idempotencyKey: 'b-feb', ts: '2026-02-28T22:59:59.999Z' }),
      event({ tenantId: 'berlin', metric: 'm_period', quantity: 8, idempotencyKey: 'b-mar-start', ts: '2026-02-28T23:00:00Z' }),
      // The demo tenant bills in UTC.
      event({ metric: 'm_period', quantity: 16, idempotencyKey: 'd-mar', ts: '2026-03-31T22:30:00Z' }),
      event({ metric: 'm_period', quantity: 32, idempotencyKey: 'd-apr', ts: '2026-04-01T00:00:00Z' }),
      // An offset spelling of a Berlin-local time is the same instant.
      event({ tenantId: 'berlin', metric: 'm_period', quantity: 64, idempotencyKey: 'b-apr-offset', ts: '2026-04-01T00:00:00+02:00' }),
    ]);
  });

  it("puts an event in the tenant's local month", async () => {
    expect((await usage('berlin', 'm_period', '2026-04')).total).toBe('65');
    expect((await usage('berlin', 'm_period', '2026-03')).total).toBe('10');
    expect((await usage('berlin', 'm_period', '2026-02')).total).toBe('4');
    expect((await usage('demo', 'm_period', '2026-03')).total).toBe('16');
    expect((await usage('demo', 'm_period', '2026-04')).total).toBe('32');
    expect((await usage('demo', 'm_period', '2026-02')).total).toBe('0');

    const stored = await svc.request('GET', '/v1/events?tenantId=berlin&metric=m_period&since=2026-02-01T00:00:00Z&until=2026-05-01T00:00:00Z');
    const periods = Object.fromEntries(stored.body.events.map((e: any) => [e.idempotencyKey, e.period]));
    expect(periods).toEqual({ 'b-feb': '2026-02', 'b-mar-start': '2026-03', 'b-mar-end': '2026-03', 'b-apr': '2026-04', 'b-apr-offset': '2026-04' });
  });

  it('reports the period bounds in UTC for the tenant zone', async () => {
    const mar = await usage('berlin', 'm_period', '2026-03');
    expect(mar).toMatchObject({
      tenantId: 'berlin',
      metric: 'm_period',
      period: { name: '2026-03', timezone: 'Europe/Berlin', start: '2026-02-28T23:00:00.000Z', end: '2026-03-31T22:00:00.000Z' },
      customers: [{ customerRef: 'cus_1', total: '10', events: 2 }],
    });
    expect((await usage('berlin', 'm_period', '2026-04')).period).toEqual({
      name: '2026-04',
      timezone: 'Europe/Berlin',
      start: '2026-03-31T22:00:00.000Z',
      end: '2026-04-30T22:00:00.000Z',
    });
    expect((await usage('demo', 'm_period', '2026-03')).period).toEqual({
      name: '2026-03',
      timezone: 'UTC',
      start: '2026-03-01T00:00:00.000Z',
      end: '2026-04-01T00:00:00.000Z',
    });
  });

  it("defaults to the tenant's current period", async () => {
    const now = Date.now();
    const u = await usage('berlin', 'm_period');
    expect(u.period.name).toBe(periodOf(now, 'Europe/Berlin'));
    expect(Date.parse(u.period.start)).toBeLessThanOrEqual(now);
    expect(Date.parse(u.period.end)).toBeGreaterThan(now);
    expect(u.total).toBe('0');
  });
});

describe('usage history', () => {
  beforeAll(async () => {
    // Europe/Berlin springs forward on 2026-03-29 at 01:00Z (02:00 CET -> 03:00 CEST): that local day has 23 hours.
    const at: Array<[string, number]> = [
      ['2026-03-28T22:30:00Z', 1], // Sat 28 Mar 23:30 CET
      ['2026-03-28T23:30:00Z', 2], // Sun 29 Mar 00:30 CET
      ['2026-03-29T00:45:00Z', 3], // Sun 29 Mar 01:45 CET
      ['2026-03-29T01:15:00Z', 4], // Sun 29 Mar 03:15 CEST
      ['2026-03-29T21:59:59Z', 6], // Sun 29 Mar 23:59:59 CEST
      ['2026-03-29T22:30:00Z', 5], // Mon 30 Mar 00:30 CEST
    ];
    const events = at.flatMap(([ts, quantity], i) => [
      event({ tenantId: 'berlin', metric: 'm_hist', quantity, ts, idempotencyKey: `bh${i}` }),
      event({ tenantId: 'demo', metric: 'm_hist', quantity, ts, idempotencyKey: `dh${i}` }),
    ]);
    await ingest(events);
  });

  it('step=day buckets start at local midnight in the tenant zone, expressed in UTC', async () => {
    const h = await history('berlin', 'm_hist', 'day', '2026-03-27T00:00:00Z', '2026-04-01T00:00:00Z');
    expect(h).toMatchObject({ tenantId: 'berlin', metric: 'm_hist', step: 'day', timezone: 'Europe/Berlin', total: '21' });
    expect(h.buckets).toEqual([
      { start: '2026-03-27T23:00:00Z', total: '1', events: 1 },
      { start: '2026-03-28T23:00:00Z', total: '15', events: 4 },
      { start: '2026-03-29T22:00:00Z', total: '5', events: 1 },
    ]);
    const utc = await history('demo', 'm_hist', 'day', '2026-03-27T00:00:00Z', '2026-04-01T00:00:00Z');
    expect(utc.timezone).toBe('UTC');
    expect(utc.buckets).toEqual([
      { start: '2026-03-28T00:00:00Z', total: '3', events: 2 },
      { start: '2026-03-29T00:00:00Z', total: '18', events: 4 },
    ]);
  });

  it('step=hour buckets are UTC hours, across the DST change', async () => {
    const h = await history('berlin', 'm_hist', 'hour', '2026-03-28T00:00:00Z', '2026-03-30T00:00:00Z');
    expect(h.buckets).toEqual([
      { start: '2026-03-28T22:00:00Z', total: '1', events: 1 },
      { start: '2026-03-28T23:00:00Z', total: '2', events: 1 },
      { start: '2026-03-29T00:00:00Z', total: '3', events: 1 },
      { start: '2026-03-29T01:00:00Z', total: '4', events: 1 },
      { start: '2026-03-29T21:00:00Z', total: '6', events: 1 },
      { start: '2026-03-29T22:00:00Z', total: '5', events: 1 },
    ]);
    expect(h.total).toBe('21');
  });

  it('covers [since, until) and normalises offsets', async () => {
    // 02:00+02:00 is 00:00Z; 04:00+02:00 is 02:00Z.
    const h = await history('berlin', 'm_hist', 'hour', '2026-03-29T02:00:00+02:00', '2026-03-29T04:00:00+02:00');
    expect(h.since).toBe('2026-03-29T00:00:00.000Z');
    expect(h.until).toBe('2026-03-29T02:00:00.000Z');
    expect(h.buckets.map((b: any) => b.start)).toEqual(['2026-03-29T00:00:00Z', '2026-03-29T01:00:00Z']);
    expect(h.total).toBe('7');
    const empty = await history('berlin', 'm_hist', 'hour', '2026-03-01T00:00:00Z', '2026-03-02T00:00:00Z');
    expect(empty).toMatchObject({ total: '0', buckets: [] });
  });

  it('filters by customer', async () => {
    await ingest([event({ tenantId: 'berlin', metric: 'm_hist2', quantity: 1, customerRef: 'a', ts: '2026-03-10T10:00:00Z', idempotencyKey: 'c1' })]);
    await ingest([event({ tenantId: 'berlin', metric: 'm_hist2', quantity: 2, customerRef: 'b', ts: '2026-03-10T10:30:00Z', idempotencyKey: 'c2' })]);
    const q = new URLSearchParams({ tenantId: 'berlin', metric: 'm_hist2', customerRef: 'b', since: '2026-03-10T00:00:00Z', until: '2026-03-11T00:00:00Z' });
    const r = await svc.request('GET', `/v1/usage/history?${q}`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ customerRef: 'b', step: 'hour', total: '2', buckets: [{ start: '2026-03-10T10:00:00Z', total: '2', events: 1 }] });
  });
});

describe('time zones', () => {
  it('stores a zone in the spelling the engine knows, so history works for it', async () => {
    const r = await svc.request('POST', '/v1/admin/tenants', { body: { id: 'lowercase', timezone: 'europe/berlin' } });
    expect(r.status).toBe(201);
    expect(r.body.timezone).toBe('Europe/Berlin');
    // The same zone spelled either way is the same tenant, not a conflict.
    expect((await svc.request('POST', '/v1/admin/tenants', { body: { id: 'lowercase', timezone: 'Europe/Berlin' } })).status).toBe(200);
    await ingest([event({ tenantId: 'lowercase', metric: 'm_tz', quantity: 1, ts: '2026-03-31T22:30:00Z', idempotencyKey: 'z1' })]);
    expect((await usage('lowercase', 'm_tz', '2026-04')).total).toBe('1');
    const h = await history('lowercase', 'm_tz', 'day', '2026-03-31T00:00:00Z', '2026-04-02T00:00:00Z');
    expect(h.buckets).toEqual([{ start: '2026-03-31T22:00:00Z', total: '1', events: 1 }]);

    const utc = await svc.request('POST', '/v1/admin/tenants', { body: { id: 'lower-utc', timezone: 'utc' } });
    expect(utc.status).toBe(201);
    expect(utc.body.timezone).toBe('UTC');
    await ingest([event({ tenantId: 'lower-utc', metric: 'm_tz', quantity: 1, ts: '2026-03-31T22:30:00Z', idempotencyKey: 'z2' })]);
    expect((await history('lower-utc', 'm_tz', 'day', '2026-03-31T00:00:00Z', '2026-04-02T00:00:00Z')).buckets).toEqual([
      { start: '2026-03-31T00:00:00Z', total: '1', events: 1 },
    ]);
  });
});

describe('validation', () => {
  const bad = async (url: string, field: string) => {
    const r = await svc.request('GET', url);
    expect(r.status, url).toBe(400);
    expect(r.body.error.code).toBe('invalid_request');
    expect(r.body.error.issues.map((i: any) => i.path), url).toContain(field);
    return r.body;
  };

  it('refuses bad usage queries with the field path', async () => {
    await bad('/v1/usage?tenantId=demo&metric=m&period=2026-13', 'period');
    await bad('/v1/usage?tenantId=demo&metric=m&period=2026-00', 'period');
    await bad('/v1/usage?tenantId=demo&metric=m&period=2026-3', 'period');
    const missing = await bad('/v1/usage?tenantId=demo', 'metric');
    expect(missing.error.message).toMatch(/^invalid query: metric/);
    await bad('/v1/usage?metric=m', 'tenantId');
    await bad('/v1/usage?tenantId=demo&metric=bad%20metric', 'metric');
    await bad('/v1/usage?tenantId=demo&metric=m&extra=1', '');
    const unknown = await svc.request('GET', '/v1/usage?tenantId=nobody&metric=m');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('unknown_tenant');
  });

  it('refuses bad history queries with the field path', async () => {
    const base = 'tenantId=berlin&metric=m_hist';
    const since = await bad(`/v1/usage/history?${base}&since=2026-03-02T00:00:00Z&until=2026-03-01T00:00:00Z`, 'since');
    expect(since.error.message).toMatch(/since must be before until/);
    await bad(`/v1/usage/history?${base}&since=2026-03-01T00:00:00Z&until=2026-03-01T00:00:00Z`, 'since');
    // The same instant in two spellings is still an empty window.
    await bad(`/v1/usage/history?${base}&since=2026-03-01T01:00:00%2B01:00&until=2026-03-01T00:00:00Z`, 'since');
    await bad('/v1/usage/history?tenantId=berlin&since=2026-03-01T00:00:00Z&until=2026-03-02T00:00:00Z', 'metric');
    await bad(`/v1/usage/history?${base}&since=2026-03-01T00:00:00&until=2026-03-02T00:00:00Z`, 'since');
    await bad(`/v1/usage/history?${base}&until=2026-03-02T00:00:00Z`, 'since');
    await bad(`/v1/usage/history?${base}&since=2026-03-01T00:00:00Z&until=2026-03-02T00:00:00Z&step=week`, 'step');
    await bad(`/v1/usage/history?${base}&since=2024-01-01T00:00:00Z&until=2026-03-02T00:00:00Z&step=hour`, 'until');
    // The same long window is fine by day.
    expect((await svc.request('GET', `/v1/usage/history?${base}&since=2024-01-01T00:00:00Z&until=2026-03-02T00:00:00Z&step=day`)).status).toBe(200);
  });
});
