import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { event, startTestService, type TestService } from '../../test/support/service.js';

/**
 * unique_count, max and latest meters pushed to Stripe `last` meters: the period's value itself, whenever it changed
 * since the last acknowledged one, through the same intents as sums; reconciliation compares the value Stripe holds.
 * Through the HTTP API and the built-in sandbox over HTTP with the real stripe client, faults included.
 */
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ PUSH_INTERVAL: 'PT1H', RECON_INTERVAL: 'PT1H', STRIPE_TIMEOUT: 'PT2S', PUSH_FAILED_RETRY: 'PT1S' });
});
afterAll(async () => {
  await svc?.destroy();
});

const tenantId = 'lm';
const specs = {
  m_users: { aggregation: 'unique_count', uniqueBy: 'user' },
  m_peak: { aggregation: 'max' },
  m_store: { aggregation: 'latest' },
} as const;
type Metric = keyof typeof specs;
const meterIds: Record<string, string> = {};
const customers: Record<string, string> = {};

const ingest = async (events: unknown[]) => {
  const r = await svc.request('POST', '/v1/events/ingest', { body: { events } });
  expect(r.body.rejected, JSON.stringify(r.body.results)).toBe(0);
};
const push = async () => (await svc.request('POST', '/v1/push/run', { body: { tenantId } })).body;
const status = async () => (await svc.request('GET', `/v1/push/status?tenantId=${tenantId}`)).body.items as Array<Record<string, any>>;
const stripeValue = (metric: Metric, ref: string) => svc.deps.stripe.sandbox!.totals({ meterId: meterIds[metric]!, customer: customers[ref]! });
const localValue = async (metric: Metric, ref: string) =>
  (await svc.request('GET', `/v1/usage?tenantId=${tenantId}&metric=${metric}&customerRef=${ref}`)).body.customers[0]?.total as string;

let clock = Date.now() - 3600_000;
const at = () => new Date((clock += 1000)).toISOString();
const usage = (ref: string, round: number) => [
  event({ tenantId, metric: 'm_users', customerRef: ref, quantity: 1, ts: at(), meta: { user: `u${round}` }, idempotencyKey: `${ref}-u-${round}` }),
  event({ tenantId, metric: 'm_users', customerRef: ref, quantity: 1, ts: at(), meta: { user: 'u0' }, idempotencyKey: `${ref}-u0-${round}` }),
  event({ tenantId, metric: 'm_peak', customerRef: ref, quantity: (round * 7) % 23, ts: at(), idempotencyKey: `${ref}-p-${round}` }),
  event({ tenantId, metric: 'm_store', customerRef: ref, quantity: (round * 5) % 17, ts: at(), idempotencyKey: `${ref}-s-${round}` }),
];

describe('Stripe last meters', () => {
  beforeAll(async () => {
    expect((await svc.request('POST', '/v1/admin/tenants', { body: { id: tenantId } })).status).toBe(201);
    const stripe = svc.deps.stripe.client;
    for (const [metric, spec] of Object.entries(specs)) {
      expect((await svc.request('POST', '/v1/meters', { body: { tenantId, metric, ...spec } })).status).toBe(201);
      // A sum meter cannot hold a period's value: refused, naming the meter to create.
      const sum = await stripe.billing.meters.create({ display_name: metric, event_name: `${metric}_sum`, default_aggregation: { formula: 'sum' } });
      const refused = await svc.request('POST', '/v1/mappings', { body: { tenantId, metric, meterId: sum.id } });
      expect(refused.body.error, metric).toMatchObject({ code: 'meter_formula_mismatch', message: expect.stringMatching(/formula\]=last/) });
      const last = await stripe.billing.meters.create({ display_name: metric, event_name: `${metric}_last`, default_aggregation: { formula: 'last' } });
      const mapped = await svc.request('POST', '/v1/mappings', { body: { tenantId, metric, meterId: last.id } });
      expect(mapped.status, JSON.stringify(mapped.body)).toBe(201);
      expect(mapped.body.formula).toBe('last');
      meterIds[metric] = last.id;
    }
    for (const ref of ['a', 'b']) {
      customers[ref] = (await stripe.customers.create({ name: ref })).id;
      expect((await svc.request('POST', '/v1/customers', { body: { tenantId, customerRef: ref, stripeCustomerId: customers[ref] } })).status).toBe(201);
    }
  });

  it('sends the period value, again when it changes (down too), and Stripe holds what usage says', async () => {
    await ingest([...usage('a', 1), ...usage('a', 2)]);
    expect((await push()).acked).toBe(3);
    expect([stripeValue('m_users', 'a'), stripeValue('m_peak', 'a'), stripeValue('m_store', 'a')]).toEqual([3, 14, 10]);
    await ingest(usage('a', 3));
    expect((await push()).acked).toBe(3);
    expect([stripeValue('m_users', 'a'), stripeValue('m_peak', 'a'), stripeValue('m_store', 'a')]).toEqual([4, 21, 15]);
    // The latest value falls from 15 to 2; the peak and the distinct users stay: one value sent.
    await ingest([event({ tenantId, metric: 'm_store', customerRef: 'a', quantity: 2, ts: at(), idempotencyKey: 'a-down' })]);
    expect((await push()).acked).toBe(1);
    expect(stripeValue('m_store', 'a')).toBe(2);
    // Nothing changed: nothing sent.
    expect((await push()).acked).toBe(0);
    for (const item of await status()) expect(item, JSON.stringify(item)).toMatchObject({ status: 'ok', pushedTotal: Number(await localValue(item.metric, item.customerRef)) });
  });

  it('ends equal to local usage through 20% injected faults, including commits whose answer is lost', async () => {
    const sandbox = svc.deps.stripe.sandbox!;
    for (let round = 4; round < 12; round++) {
      await ingest([...usage('a', round), ...usage('b', round)]);
      sandbox.setFaults({ errorRate: 0.05, rateLimitRate: 0.05, timeoutRate: 0.05, dropAfterCommitRate: 0.05, hangMs: 2500 });
      await push();
    }
    let cycles = 0;
    for (; cycles < 20; cycles++) {
      await push();
      if ((await status()).every((i) => i.status === 'ok')) break;
    }
    sandbox.setFaults({});
    expect(cycles).toBeLessThan(20);
    expect(sandbox.stats().faults.dropAfterCommit + sandbox.stats().faults.error).toBeGreaterThan(0);
    for (const metric of Object.keys(specs) as Metric[]) {
      for (const ref of ['a', 'b']) expect(stripeValue(metric, ref), `${metric} ${ref}`).toBe(Math.floor(Number(await localValue(metric, ref))));
    }
  }, 120_000);

  it('reconciles each item against the value its last meter holds', async () => {
    const run = await svc.request('POST', '/v1/reconciliation/run', { body: { tenantId } });
    expect(run.status).toBe(200);
    expect(run.body.items).toHaveLength(6);
    for (const item of run.body.items) expect(item, JSON.stringify(item)).toMatchObject({ status: 'ok', diffAbs: '0' });
  });
});
