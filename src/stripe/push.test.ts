import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { event, startTestService, type TestService } from '../../test/support/service.js';
import { demoEventName } from './demo.js';

// The built-in sandbox over HTTP through the real stripe client; cycles run on demand (POST /v1/push/run).
const env = { STRIPE_SANDBOX_PORT: '0', PUSH_INTERVAL: 'PT1H', EVENT_RETENTION: 'P400D', STRIPE_TIMEOUT: 'PT2S', PUSH_FAILED_RETRY: 'PT1S' };
let svc: TestService;

beforeAll(async () => {
  svc = await startTestService(env);
});
afterAll(async () => {
  await svc?.destroy();
});

const stripe = () => svc.deps.stripe.client;
const sandbox = () => svc.deps.stripe.sandbox!;
const ingest = async (events: unknown[]) => {
  const r = await svc.request('POST', '/v1/events/ingest', { body: { events } });
  expect(r.status).toBe(200);
  expect(r.body.rejected).toBe(0);
  return r.body;
};
const push = async (tenantId = 'demo') => {
  const r = await svc.request('POST', '/v1/push/run', { body: { tenantId } });
  if (r.status !== 200) console.error(svc.logs.filter((l) => (l.level as number) >= 50).map((l) => JSON.stringify(l.err).slice(0, 800)));
  expect(r.status).toBe(200);
  return r.body;
};
const status = async (tenantId = 'demo') => {
  const r = await svc.request('GET', `/v1/push/status?tenantId=${tenantId}`);
  expect(r.status).toBe(200);
  return r.body;
};

/** What Stripe (the sandbox) has for a customer on a meter, read back through the real client's summaries API. */
async function stripeTotal(meterId: string, customer: string, start = 0, end = Math.ceil(Date.now() / 60_000) * 60 + 3600) {
  const list = await stripe().billing.meters.listEventSummaries(meterId, { customer, start_time: start, end_time: end });
  return list.data.reduce((n, s) => n + s.aggregated_value, 0);
}

async function newMeteredMetric(tenantId: string, metric: string) {
  const meter = await stripe().billing.meters.create({
    display_name: metric,
    event_name: `${tenantId}_${metric}`,
    default_aggregation: { formula: 'sum' },
  });
  const r = await svc.request('POST', '/v1/mappings', { body: { tenantId, metric, meterId: meter.id } });
  expect(r.status).toBe(201);
  return meter;
}

async function newCustomer(tenantId: string, customerRef: string) {
  const c = await stripe().customers.create({ name: customerRef });
  const r = await svc.request('POST', '/v1/customers', { body: { tenantId, customerRef, stripeCustomerId: c.id } });
  expect(r.status).toBe(201);
  return c;
}

const iso = (ms: number) => new Date(ms).toISOString();

describe('mappings', () => {
  it('refuses a meter Stripe does not have, an inactive meter and an unknown customer', async () => {
    const missing = await svc.request('POST', '/v1/mappings', { body: { tenantId: 'demo', metric: 'm_x', meterId: 'mtr_nothere' } });
    expect(missing.status).toBe(400);
    expect(missing.body.error.code).toBe('meter_not_found');
    const byName = await svc.request('POST', '/v1/mappings', { body: { tenantId: 'demo', metric: 'm_x', eventName: 'nope' } });
    expect(byName.body.error.code).toBe('meter_not_found');
    const meter = await stripe().billing.meters.create({ display_name: 'x', event_name: 'inactive_x', default_aggregation: { formula: 'sum' } });
    await stripe().billing.meters.deactivate(meter.id);
    const inactive = await svc.request('POST', '/v1/mappings', { body: { tenantId: 'demo', metric: 'm_x', meterId: meter.id } });
    expect(inactive.body.error.code).toBe('meter_inactive');
    const cust = await svc.request('POST', '/v1/customers', { body: { tenantId: 'demo', customerRef: 'x', stripeCustomerId: 'cus_nothere' } });
    expect(cust.status).toBe(400);
    expect(cust.body.error.code).toBe('customer_not_found');
  });

  it('creates, reads, updates and deletes a mapping', async () => {
    const meter = await newMeteredMetric('demo', 'm_crud');
    expect((await svc.request('GET', '/v1/mappings/demo/m_crud')).body).toMatchObject({ meterId: meter.id, eventName: 'demo_m_crud', active: true });
    expect((await svc.request('POST', '/v1/mappings', { body: { tenantId: 'demo', metric: 'm_crud', meterId: meter.id } })).status).toBe(409);
    const put = await svc.request('PUT', '/v1/mappings/demo/m_crud', { body: { meterId: meter.id, active: false } });
    expect(put.body.active).toBe(false);
    const list = await svc.request('GET', '/v1/mappings?tenantId=demo');
    expect(list.body.mappings.map((m: any) => m.metric)).toContain('m_crud');
    expect((await svc.request('DELETE', '/v1/mappings/demo/m_crud')).status).toBe(200);
    expect((await svc.request('GET', '/v1/mappings/demo/m_crud')).status).toBe(404);
  });

  it('the demo tenant comes mapped to a sandbox meter and customers', async () => {
    const m = await svc.request('GET', '/v1/mappings/demo/requests');
    expect(m.body.eventName).toBe(demoEventName);
    const c = await svc.request('GET', '/v1/customers?tenantId=demo');
    expect(c.body.customers.map((x: any) => x.customerRef)).toEqual(['cus_1', 'cus_2', 'cus_3']);
  });
});

describe('push', () => {
  it('sends whole-unit deltas across cycles and periods, carrying fractions', async () => {
    await svc.request('POST', '/v1/admin/tenants', { body: { id: 'p1' } });
    const meter = await newMeteredMetric('p1', 'api_calls');
    const a = await newCustomer('p1', 'alice');
    const now = Date.now();
    const lastMonth = new Date(Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1) - 86_400_000);
    // Oldest first: an event arriving more than LATENESS_WINDOW behind its counter's newest is not counted.
    await ingest([
      event({ tenantId: 'p1', metric: 'api_calls', customerRef: 'alice', quantity: 5, ts: iso(lastMonth.getTime()) }),
      event({ tenantId: 'p1', metric: 'api_calls', customerRef: 'alice', quantity: '2.4' }),
    ]);
    const first = await push('p1');
    expect(first.acked).toBe(2);
    expect(await stripeTotal(meter.id, a.id)).toBe(7);
    // Last month's units carry a timestamp inside last month.
    expect(await stripeTotal(meter.id, a.id, 0, Math.floor(Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1) / 1000))).toBe(5);

    await ingest([event({ tenantId: 'p1', metric: 'api_calls', customerRef: 'alice', quantity: '0.5' })]);
    expect((await push('p1')).acked).toBe(0); // 2.9: the fraction waits
    await ingest([event({ tenantId: 'p1', metric: 'api_calls', customerRef: 'alice', quantity: '0.1' })]);
    expect((await push('p1')).acked).toBe(1); // 3.0
    expect(await stripeTotal(meter.id, a.id)).toBe(8);
    expect((await push('p1')).acked).toBe(0); // nothing new: nothing sent

    const st = await status('p1');
    const current = st.items.find((i: any) => i.customerRef === 'alice' && i.localTotal === '3');
    expect(current).toMatchObject({ status: 'ok', pushedTotal: 3, delta: 0, pendingIntent: null });
  });

  it('reports usage without a mapping as unmapped and periods past 35 days as unpushable', async () => {
    await svc.request('POST', '/v1/admin/tenants', { body: { id: 'p2' } });
    await newMeteredMetric('p2', 'gb');
    await newCustomer('p2', 'bob');
    await ingest([
      event({ tenantId: 'p2', metric: 'gb', customerRef: 'nobody', quantity: 4 }),
      event({ tenantId: 'p2', metric: 'unmapped_metric', customerRef: 'bob', quantity: 2 }),
      event({ tenantId: 'p2', metric: 'gb', customerRef: 'bob', quantity: 3, ts: iso(Date.now() - 80 * 86_400_000) }),
    ]);
    const r = await push('p2');
    expect(r.unmapped).toEqual({ items: 2, units: 6 });
    expect(r.unpushable).toEqual({ items: 1, units: 3 });
    const st = await status('p2');
    expect(st.summary).toMatchObject({ unmapped: 2, unpushable: 1 });
    const metrics = (await svc.request('GET', '/metrics', { key: null })).body as string;
    expect(metrics).toMatch(/stripe_push_total\{result="acked"\} \d+/);
    expect(metrics).toMatch(/push_cycle_duration_seconds_count \d+/);
    expect(metrics).toContain('stripe_push_lag_seconds');
    // An on-demand cycle updates the item gauges too, not only the scheduled one.
    expect(Number(/^push_items\{status="unmapped"\} (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(2);
    expect(Number(/^push_unpushable_units (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(3);
  });

  it('lowers Stripe with a negative meter value when local totals fall', async () => {
    await svc.request('POST', '/v1/admin/tenants', { body: { id: 'p3' } });
    const meter = await newMeteredMetric('p3', 'seats');
    const c = await newCustomer('p3', 'carol');
    await ingest([event({ tenantId: 'p3', metric: 'seats', customerRef: 'carol', quantity: 10 })]);
    await push('p3');
    expect(await stripeTotal(meter.id, c.id)).toBe(10);
    const period = new Date().toISOString().slice(0, 7);
    // An approved correction (the adjustments API inserts the same row).
    await svc.deps.storage.api.insert({
      table: 'adjustments',
      values: [{ id: 'adj_test_1', tenant_id: 'p3', metric: 'seats', customer_ref: 'carol', period, delta: '-3.5', reason: 'correction', status: 'approved', approved_by: 'test', version: '1' }],
      format: 'JSONEachRow',
    });
    const r = await push('p3');
    expect(r.unitsPushed).toBe(-4); // floor(6.5) - 10
    expect(await stripeTotal(meter.id, c.id)).toBe(6);
  });

  it('does not double count when Stripe committed but the response was lost', async () => {
    await svc.request('POST', '/v1/admin/tenants', { body: { id: 'p4' } });
    const meter = await newMeteredMetric('p4', 'calls');
    const c = await newCustomer('p4', 'dave');
    await ingest([event({ tenantId: 'p4', metric: 'calls', customerRef: 'dave', quantity: 7 })]);
    sandbox().setFaults({ dropAfterCommitRate: 1 });
    const r = await push('p4');
    sandbox().setFaults({});
    expect(r.acked).toBe(0);
    expect(await stripeTotal(meter.id, c.id)).toBe(7); // Stripe has it...
    const pending = (await status('p4')).items[0];
    expect(pending.status).toBe('pending'); // ...but we do not know yet
    expect(pending.pendingIntent.value).toBe(7);
    const again = await push('p4'); // same identifier: Stripe dedupes, we learn it landed
    expect(again.acked).toBe(1);
    expect(await stripeTotal(meter.id, c.id)).toBe(7);
    expect((await status('p4')).items[0]).toMatchObject({ status: 'ok', pushedTotal: 7 });
  });

  it('resolves several pending intents of one item in order before sending anything new', async () => {
    await svc.request('POST', '/v1/admin/tenants', { body: { id: 'p7' } });
    const meter = await newMeteredMetric('p7', 'calls');
    const c = await newCustomer('p7', 'gus');
    await ingest([event({ tenantId: 'p7', metric: 'calls', customerRef: 'gus', quantity: 10 })]);
    // The state a crash can leave: seq 1 (0 -> 5) acknowledged by Stripe but not yet recorded, seq 2 (5 -> 8) sent
    // or not; then more usage arrived (local 10).
    const period = new Date().toISOString().slice(0, 7);
    const base = { tenant_id: 'p7', metric: 'calls', customer_ref: 'gus', period, meter_id: meter.id, event_name: 'p7_calls', stripe_customer_id: c.id, status: 'pending', event_ts: Math.floor(Date.now() / 1000) };
    await svc.deps.storage.api.insert({
      table: 'push_log',
      values: [
        { ...base, identifier: 'sm_crash_seq1', seq: 1, base_total: 0, target_total: 5, value: 5, version: '1' },
        { ...base, identifier: 'sm_crash_seq2', seq: 2, base_total: 5, target_total: 8, value: 3, version: '2' },
      ],
      format: 'JSONEachRow',
    });
    await stripe().billing.meterEvents.create({ event_name: 'p7_calls', identifier: 'sm_crash_seq1', payload: { stripe_customer_id: c.id, value: '5' } });
    const r = await push('p7');
    expect(r.acked).toBe(3); // seq 1 (deduped), seq 2, then the rest (8 -> 10)
    expect(await stripeTotal(meter.id, c.id)).toBe(10);
    expect((await status('p7')).items[0]).toMatchObject({ status: 'ok', pushedTotal: 10 });
    expect((await push('p7')).acked).toBe(0);
    expect(await stripeTotal(meter.id, c.id)).toBe(10);
  });

  it('reports a total too large to send exactly as an error, without failing the cycle', async () => {
    await svc.request('POST', '/v1/admin/tenants', { body: { id: 'p8' } });
    await newMeteredMetric('p8', 'bytes');
    await newCustomer('p8', 'huge');
    await newCustomer('p8', 'small');
    // Ten of the largest quantity an event may carry: 9999999999999990, beyond 2^53 - 1.
    await ingest([
      ...Array.from({ length: 10 }, (_, i) => event({ tenantId: 'p8', metric: 'bytes', customerRef: 'huge', quantity: '999999999999999', idempotencyKey: `huge-${i}` })),
      event({ tenantId: 'p8', metric: 'bytes', customerRef: 'small', quantity: 2 }),
    ]);
    const r = await push('p8');
    expect(r.acked).toBe(1);
    const items = (await status('p8')).items;
    expect(items.map((i: any) => [i.customerRef, i.status, i.localTotal])).toEqual([
      ['huge', 'error', '9999999999999990'],
      ['small', 'ok', '2'],
    ]);
    expect(items[0].lastError).toEqual({
      message: 'the local total 9999999999999990 is beyond 9007199254740991, the largest whole number a meter event carries exactly: nothing is sent for this item',
      code: 'total_too_large',
      httpStatus: null,
      nextAttemptAt: null,
    });
    expect(items[0].pushedTotal).toBe(0);
    // Logged once, however many cycles see it.
    await push('p8');
    expect(svc.logs.filter((l) => l.code === 'total_too_large' && l.customerRef === 'huge')).toHaveLength(1);
  });

  it('surfaces permanent errors and recovers once the mapping is fixed', async () => {
    await svc.request('POST', '/v1/admin/tenants', { body: { id: 'p5' } });
    const meter = await newMeteredMetric('p5', 'jobs');
    const c = await newCustomer('p5', 'erin');
    await stripe().customers.del(c.id);
    await ingest([event({ tenantId: 'p5', metric: 'jobs', customerRef: 'erin', quantity: 4 })]);
    const r = await push('p5');
    expect(r.failed).toBe(1);
    const item = (await status('p5')).items[0];
    expect(item.status).toBe('error');
    expect(item.lastError.message).toMatch(/customer/i);
    expect(item.lastError.httpStatus).toBe(400);
    const ready = await svc.request('GET', '/health/ready', { key: null });
    expect(ready.body.status).toBe('degraded');
    expect(ready.body.checks.stripe.detail).toMatch(/permanent error/);
    // Not retried in a hot loop: an immediate cycle leaves it alone.
    expect((await push('p5')).failed).toBe(0);

    const fixed = await stripe().customers.create({ name: 'erin again' });
    const rebind = await svc.request('POST', '/v1/customers', { body: { tenantId: 'p5', customerRef: 'erin', stripeCustomerId: fixed.id } });
    expect(rebind.status).toBe(200);
    expect((await push('p5')).acked).toBe(1);
    expect(await stripeTotal(meter.id, fixed.id)).toBe(4);
    expect((await status('p5')).items[0]).toMatchObject({ status: 'ok', pushedTotal: 4, lastError: null });
  });

  it('converges exactly with 20% injected 500s, 429s and timeouts over 10,000 events and 200 customers', async () => {
    await svc.request('POST', '/v1/admin/tenants', { body: { id: 'p6' } });
    const meter = await newMeteredMetric('p6', 'tokens');
    const customers: Array<{ ref: string; id: string }> = [];
    for (let i = 0; i < 200; i++) customers.push({ ref: `c${i}`, id: (await newCustomer('p6', `c${i}`)).id });
    const expected = new Map<string, bigint>(); // in millionths
    const events = [];
    for (let i = 0; i < 10_000; i++) {
      const c = customers[i % 200]!;
      const micros = BigInt(1 + ((i * 7919) % 2_500_000));
      expected.set(c.ref, (expected.get(c.ref) ?? 0n) + micros);
      events.push(event({ tenantId: 'p6', metric: 'tokens', customerRef: c.ref, quantity: (Number(micros) / 1e6).toFixed(6), idempotencyKey: `e${i}` }));
    }
    for (let i = 0; i < events.length; i += 5000) await ingest(events.slice(i, i + 5000));
    sandbox().setFaults({ errorRate: 0.07, rateLimitRate: 0.07, timeoutRate: 0.06, hangMs: 2500 });
    let cycles = 0;
    for (; cycles < 30; cycles++) {
      await push('p6');
      const st = await status('p6');
      if (st.items.every((i: any) => i.status === 'ok')) break;
    }
    sandbox().setFaults({});
    expect(cycles).toBeLessThan(30);
    for (const c of customers) {
      expect(await stripeTotal(meter.id, c.id)).toBe(Number(expected.get(c.ref)! / 1_000_000n));
    }
    const metrics = (await svc.request('GET', '/metrics', { key: null })).body as string;
    expect(metrics).toMatch(/stripe_api_errors_total\{type="rate_limited",status="429"\} \d+/);
    expect(metrics).toMatch(/stripe_api_errors_total\{type="transient",status="500"\} \d+/);
  }, 240_000);
});
