import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { event, startTestService, type TestService } from '../../test/support/service.js';
import { tenantWithMeter } from '../../test/support/stripe.js';

// Every aggregation over one set of events, against values computed here from the events counted: across hours,
// with a late event inside the lateness window, a duplicate, and an event beyond the window that a replay counts.
let svc: TestService;

type Sent = { key: string; customerRef: string; ts: string; quantity: string; user: string; region: string; model: string };

const at = (hhmm: string) => `2026-03-10T${hhmm}:00.000Z`;
const sent = (key: string, customerRef: string, hhmm: string, quantity: string, user: string, region = 'eu', model = 'small'): Sent => ({
  key,
  customerRef,
  ts: at(hhmm),
  quantity,
  user,
  region,
  model,
});

// In ingest order; watermarks move per (metric, customer).
const inOrder = [
  sent('a', 'c1', '10:00', '5', 'u1', 'eu', 'small'),
  sent('b', 'c1', '10:20', '2.5', 'u2', 'us', 'large'),
  sent('c', 'c1', '11:05', '7', 'u1', 'eu', 'large'),
  sent('d', 'c1', '12:10', '1.25', 'u3', 'eu', 'small'),
  sent('e', 'c2', '11:30', '9', 'u1', 'us', 'small'),
];
// Behind c1's watermark (12:10) but inside the 1 h lateness window: counted at once.
const late = sent('f', 'c1', '11:40', '8', 'u2', 'us', 'small');
// More than an hour behind: stored, counted only by a replay.
const beyond = sent('g', 'c1', '09:00', '20', 'u4', 'eu', 'large');

const metrics = {
  m_calls: { aggregation: 'sum', dimensions: ['model', 'region'] },
  m_req: { aggregation: 'count' },
  m_mau: { aggregation: 'unique_count', uniqueBy: 'user', dimensions: ['region'] },
  m_peak: { aggregation: 'max' },
  m_store: { aggregation: 'latest' },
} as const;
type Metric = keyof typeof metrics;

const asEvent = (metric: Metric, s: Sent) =>
  event({ metric, customerRef: s.customerRef, ts: s.ts, quantity: s.quantity, idempotencyKey: `${metric}-${s.key}`, meta: { user: s.user, region: s.region, model: s.model } });

/** The value of an aggregation over events, as exact decimal text (quantities here have at most 2 decimals). */
function expected(metric: Metric, events: Sent[]): string {
  const cents = (q: string) => Math.round(Number(q) * 100);
  const text = (c: number) => String(c / 100);
  switch (metrics[metric].aggregation) {
    case 'sum':
      return text(events.reduce((n, e) => n + cents(e.quantity), 0));
    case 'count':
      return String(events.length);
    case 'unique_count':
      return String(new Set(events.map((e) => e.user)).size);
    case 'max':
      return text(Math.max(...events.map((e) => cents(e.quantity))));
    case 'latest':
      return [...events].sort((x, y) => x.ts.localeCompare(y.ts)).at(-1)!.quantity;
  }
}

async function ingest(events: unknown[]) {
  const r = await svc.request('POST', '/v1/events/ingest', { body: { events } });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}

async function usage(metric: Metric) {
  const r = await svc.request('GET', `/v1/usage?tenantId=demo&metric=${metric}&period=2026-03`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}

const replay = (metricNames: string[], mode: 'dry-run' | 'apply') =>
  svc.request('POST', '/v1/replay', {
    body: { tenantId: 'demo', metrics: metricNames, since: '2026-03-10T08:00:00Z', until: '2026-03-10T14:00:00Z', mode },
  });

beforeAll(async () => {
  svc = await startTestService({ EVENT_RETENTION: 'P3650D', LATENESS_WINDOW: 'PT1H' });
  for (const [metric, spec] of Object.entries(metrics)) {
    const r = await svc.request('POST', '/v1/meters', { body: { tenantId: 'demo', metric, ...spec } });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
  }
  const names = Object.keys(metrics) as Metric[];
  for (const s of inOrder) await ingest(names.map((m) => asEvent(m, s)));
  const lateResult = await ingest(names.map((m) => asEvent(m, late)));
  expect(lateResult.results.map((r: { lateness?: string }) => r.lateness)).toEqual(names.map(() => 'late'));
  const beyondResult = await ingest(names.map((m) => asEvent(m, beyond)));
  expect(beyondResult.results.map((r: { lateness?: string }) => r.lateness)).toEqual(names.map(() => 'beyond_window'));
  const duplicates = await ingest(names.map((m) => asEvent(m, inOrder[0]!)));
  expect(duplicates.duplicates).toBe(names.length);
});
afterAll(async () => {
  await svc?.destroy();
});

const counted = [...inOrder, late];
const ofCustomer = (events: Sent[], c: string) => events.filter((e) => e.customerRef === c);

describe('usage per aggregation', () => {
  it.each(Object.keys(metrics) as Metric[])('%s: per customer and overall, from the events counted', async (metric) => {
    const body = await usage(metric);
    expect(body.aggregation).toBe(metrics[metric].aggregation);
    expect(body.customers).toEqual([
      { customerRef: 'c1', total: expected(metric, ofCustomer(counted, 'c1')), events: 5 },
      { customerRef: 'c2', total: expected(metric, ofCustomer(counted, 'c2')), events: 1 },
    ]);
    expect(body.total).toBe(expected(metric, counted));
  });

  it('counts distinct values over the period, not a sum of hourly or per-customer distincts', async () => {
    const body = await usage('m_mau');
    // c1: u1 (10:00, 11:05), u2 (10:20, 11:40), u3 (12:10) over three hours; with c2's u1, three users in all.
    expect(body.customers[0].total).toBe('3');
    expect(body.total).toBe('3');
  });

  it('answers the history of additive meters (a count in events) and points the others to the grouped query', async () => {
    const history = (metric: string) =>
      svc.request('GET', `/v1/usage/history?tenantId=demo&metric=${metric}&since=2026-03-10T00:00:00Z&until=2026-03-11T00:00:00Z&step=day`);
    expect((await history('m_req')).body).toMatchObject({ aggregation: 'count', total: '6', buckets: [{ total: '6', events: 6 }] });
    expect((await history('m_calls')).body).toMatchObject({ aggregation: 'sum', total: expected('m_calls', counted) });
    for (const metric of ['m_mau', 'm_peak', 'm_store']) {
      const r = await history(metric);
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('aggregation_not_additive');
    }
  });

  it('refuses adjustments of non-additive meters and takes them for additive ones', async () => {
    const adjust = (metric: string) =>
      svc.request('POST', '/v1/adjustments', { body: { tenantId: 'demo', metric, customerRef: 'c1', period: '2026-03', delta: '1', reason: 'correction' } });
    for (const metric of ['m_mau', 'm_peak', 'm_store']) {
      const r = await adjust(metric);
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('aggregation_not_adjustable');
    }
    expect((await adjust('m_calls')).status, 'sum').toBe(201);
    expect((await adjust('m_req')).status, 'count').toBe(201);
  });

  it('shows unmapped non-additive meters as unmapped, refuses to push one mapped to a sum meter (meter_formula_mismatch); a count meter pushes its events', async () => {
    const r = await svc.request('GET', '/v1/push/status?tenantId=demo');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const items = r.body.items as Array<{ metric: string; customerRef: string; status: string; localTotal: string; lastError: { code: string } | null }>;
    for (const metric of ['m_mau', 'm_peak', 'm_store']) {
      const item = items.find((i) => i.metric === metric && i.customerRef === 'c1')!;
      expect(item.status, metric).toBe('unmapped');
    }
    expect(items.find((i) => i.metric === 'm_req' && i.customerRef === 'c1')!.localTotal).toBe('5');
    expect(items.find((i) => i.metric === 'm_calls' && i.customerRef === 'c1')!).toMatchObject({ localTotal: '23.75' });

    // Mapped to a sum meter before the metric became a max meter: an error, logged once however many cycles, nothing sent.
    const mapped = await tenantWithMeter(svc, 'mx', 'm_top', ['c1']);
    expect((await svc.request('POST', '/v1/meters', { body: { tenantId: 'mx', metric: 'm_top', aggregation: 'max' } })).status).toBe(201);
    await ingest([event({ tenantId: 'mx', metric: 'm_top', customerRef: 'c1', quantity: 7 })]);
    for (let cycle = 0; cycle < 2; cycle++) {
      const run = await svc.request('POST', '/v1/push/run', { body: { tenantId: 'mx' } });
      expect(run.body.unitsPushed, JSON.stringify(run.body)).toBe(0);
    }
    const status = await svc.request('GET', '/v1/push/status?tenantId=mx');
    expect(status.body.items[0]).toMatchObject({ metric: 'm_top', status: 'error', lastError: { code: 'meter_formula_mismatch' } });
    expect(mapped.stripeTotal('c1')).toBe(0);
    expect(svc.logs.filter((l) => l.code === 'meter_formula_mismatch' && l.metric === 'm_top').length).toBe(1);
  });
});

describe('replay per aggregation', () => {
  it('dry-run reports each non-additive meter before and after, and changes nothing', async () => {
    const dry = await replay(Object.keys(metrics), 'dry-run');
    expect(dry.status, JSON.stringify(dry.body)).toBe(200);
    const withBeyond = [...counted, beyond];
    const meterItems = dry.body.result.meterItems as Array<{ metric: Metric; customerRef: string; before: string; after: string }>;
    for (const metric of ['m_mau', 'm_peak', 'm_store'] as const) {
      expect(meterItems.find((i) => i.metric === metric && i.customerRef === 'c1')).toMatchObject({
        before: expected(metric, ofCustomer(counted, 'c1')),
        after: expected(metric, ofCustomer(withBeyond, 'c1')),
      });
    }
    for (const metric of Object.keys(metrics) as Metric[]) {
      expect((await usage(metric)).total).toBe(expected(metric, counted));
    }
  });

  it('apply counts the event beyond the window in every aggregation, and a second apply changes nothing', async () => {
    const apply = await replay(Object.keys(metrics), 'apply');
    expect(apply.body.status, JSON.stringify(apply.body)).toBe('succeeded');
    const withBeyond = [...counted, beyond];
    for (const metric of Object.keys(metrics) as Metric[]) {
      const body = await usage(metric);
      expect(body.customers[0], metric).toEqual({ customerRef: 'c1', total: expected(metric, ofCustomer(withBeyond, 'c1')), events: 6 });
      expect(body.total, metric).toBe(expected(metric, withBeyond));
    }
    const again = await replay(Object.keys(metrics), 'apply');
    expect(again.body.result.summary).toMatchObject({ changed: 0, lateEvents: 0 });
    for (const metric of Object.keys(metrics) as Metric[]) {
      expect((await usage(metric)).total, metric).toBe(expected(metric, withBeyond));
    }
    // The grouped states agree too: the sum meter by dimension over the period.
    const q = new URLSearchParams({ tenantId: 'demo', metric: 'm_calls', from: '2026-03-01T00:00:00Z', to: '2026-04-01T00:00:00Z', window: 'billing_period', groupBy: 'model' });
    const grouped = await svc.request('GET', `/v1/usage/query?${q}`);
    expect(grouped.status, JSON.stringify(grouped.body)).toBe(200);
    const byModel = (model: string) => expected('m_calls', withBeyond.filter((e) => e.model === model));
    expect(grouped.body.rows).toEqual([
      { windowStart: '2026-03-01T00:00:00.000Z', windowEnd: '2026-04-01T00:00:00.000Z', dimensions: { model: 'large' }, value: byModel('large') },
      { windowStart: '2026-03-01T00:00:00.000Z', windowEnd: '2026-04-01T00:00:00.000Z', dimensions: { model: 'small' }, value: byModel('small') },
    ]);
  });
});

describe('replay in a zone with a half-hour offset', () => {
  it('corrects the hourly and daily states alike, where one UTC hour holds the end of a local day and the start of the next', async () => {
    expect((await svc.request('POST', '/v1/admin/tenants', { body: { id: 'kol', timezone: 'Asia/Kolkata' } })).status).toBe(201);
    expect((await svc.request('POST', '/v1/meters', { body: { tenantId: 'kol', metric: 'm_k', aggregation: 'sum' } })).status).toBe(201);
    const send = (key: string, ts: string, quantity: string) => ingest([event({ tenantId: 'kol', metric: 'm_k', ts, quantity, idempotencyKey: key })]);
    await send('k1', '2026-03-10T18:45:00Z', '1'); // local 11 March 00:15
    await send('k2', '2026-03-10T20:00:00Z', '2');
    expect((await send('k3', '2026-03-10T18:15:00Z', '4')).results[0].lateness).toBe('beyond_window'); // local 10 March 23:45
    const days = async () => {
      const q = new URLSearchParams({ tenantId: 'kol', metric: 'm_k', window: 'P1D', from: '2026-03-09T18:30:00Z', to: '2026-03-11T18:30:00Z' });
      return (await svc.request('GET', `/v1/usage/query?${q}`)).body.rows.map((r: { windowStart: string; value: string }) => [r.windowStart, r.value]);
    };
    expect(await days()).toEqual([['2026-03-10T18:30:00.000Z', '3']]);
    const apply = await svc.request('POST', '/v1/replay', {
      body: { tenantId: 'kol', metrics: ['m_k'], since: '2026-03-10T17:00:00Z', until: '2026-03-10T21:00:00Z', mode: 'apply' },
    });
    expect(apply.body.status).toBe('succeeded');
    expect(await days()).toEqual([
      ['2026-03-09T18:30:00.000Z', '4'],
      ['2026-03-10T18:30:00.000Z', '3'],
    ]);
    // The 18:00 UTC hour, split between the two local days, in the hourly states as in the daily ones.
    const rs = await svc.deps.storage.api.query({
      query: `SELECT toString(day) AS day, toString(sum(quantity)) AS q FROM meter_hourly_states
        WHERE tenant_id = 'kol' AND hour = '2026-03-10 18:00:00' GROUP BY day ORDER BY day`,
      format: 'JSONEachRow',
    });
    expect(await rs.json()).toEqual([
      { day: '2026-03-09 18:30:00', q: '4' },
      { day: '2026-03-10 18:30:00', q: '1' },
    ]);
  });
});

describe('a count meter in Stripe', () => {
  it('pushes its event count to a Stripe sum meter and reconciles against it', async () => {
    const counted = await tenantWithMeter(svc, 'cnt', 'm_calls', ['c1']);
    const defined = await svc.request('POST', '/v1/meters', { body: { tenantId: 'cnt', metric: 'm_calls', aggregation: 'count' } });
    expect(defined.status).toBe(201);
    const now = Date.now();
    const events = ['2.5', '4', '10'].map((quantity, i) =>
      event({ tenantId: 'cnt', metric: 'm_calls', customerRef: 'c1', quantity, ts: new Date(now - i * 1000).toISOString() }),
    );
    expect((await ingest(events)).accepted).toBe(3);
    const pushed = await svc.request('POST', '/v1/push/run', { body: { tenantId: 'cnt' } });
    expect(pushed.body.unitsPushed, JSON.stringify(pushed.body)).toBe(3);
    expect(counted.stripeTotal('c1')).toBe(3);
    const recon = await svc.request('POST', '/v1/reconciliation/run', { body: { tenantId: 'cnt' } });
    expect(recon.body.items[0]).toMatchObject({ status: 'ok', local: '3', stripe: '3' });
    expect((await svc.request('GET', '/v1/usage?tenantId=cnt&metric=m_calls')).body).toMatchObject({ aggregation: 'count', total: '3' });
  });
});

