import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { event, startTestService, type TestService } from '../../test/support/service.js';

// Stripe dedupes identifiers for about 24 hours; an intent pending longer is settled from Stripe's event summaries
// instead of being re-sent. Here "longer" is one second.
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ STRIPE_SANDBOX_PORT: '0', PUSH_INTERVAL: 'PT1H', PUSH_SETTLE_AFTER: 'PT1S', STRIPE_TIMEOUT: 'PT2S' });
  await svc.request('POST', '/v1/admin/tenants', { body: { id: 's' } });
});
afterAll(async () => {
  await svc?.destroy();
});

const sandbox = () => svc.deps.stripe.sandbox!;
const stripe = () => svc.deps.stripe.client;
const push = async () => (await svc.request('POST', '/v1/push/run', { body: { tenantId: 's' } })).body;
const item = async (customerRef: string) =>
  (await svc.request('GET', '/v1/push/status?tenantId=s')).body.items.find((i: any) => i.customerRef === customerRef);
const meterEventCalls = () => sandbox().stats().routes['POST /v1/billing/meter_events']?.requests ?? 0;

let meterId = '';
async function customer(ref: string, quantity: number) {
  if (!meterId) {
    const meter = await stripe().billing.meters.create({ display_name: 's', event_name: 's_units', default_aggregation: { formula: 'sum' } });
    meterId = meter.id;
    await svc.request('POST', '/v1/mappings', { body: { tenantId: 's', metric: 'units', meterId } });
  }
  const c = await stripe().customers.create({ name: ref });
  await svc.request('POST', '/v1/customers', { body: { tenantId: 's', customerRef: ref, stripeCustomerId: c.id } });
  await svc.request('POST', '/v1/events/ingest', { body: { events: [event({ tenantId: 's', metric: 'units', customerRef: ref, quantity })] } });
  return c.id;
}
const total = (customer: string) => sandbox().totals({ meterId, customer });
const pause = () => new Promise((r) => setTimeout(r, 1200));

describe('settling intents older than the dedupe window', () => {
  it('acknowledges one that landed without sending it again', async () => {
    const id = await customer('landed', 6);
    sandbox().setFaults({ dropAfterCommitRate: 1 });
    expect((await push()).acked).toBe(0);
    sandbox().setFaults({});
    await pause();
    const calls = meterEventCalls();
    const r = await push();
    expect(r).toMatchObject({ settled: 1, acked: 1 });
    expect(meterEventCalls()).toBe(calls);
    expect(total(id)).toBe(6);
    expect(await item('landed')).toMatchObject({ status: 'ok', pushedTotal: 6 });
  });

  it('sends a fresh intent for one that never landed', async () => {
    const id = await customer('never', 3);
    sandbox().setFaults({ errorRate: 1 });
    expect((await push()).retriedLater).toBe(1);
    sandbox().setFaults({});
    const stale = (await item('never')).pendingIntent.identifier;
    await pause();
    const r = await push();
    expect(r).toMatchObject({ settled: 1, acked: 1 });
    expect(total(id)).toBe(3);
    const rows = await svc.deps.storage.api.query({
      query: "SELECT identifier, status, generation FROM push_log FINAL WHERE customer_ref = 'never' ORDER BY generation",
      format: 'JSONEachRow',
    });
    expect(await rows.json()).toEqual([
      { identifier: stale, status: 'expired', generation: 0 },
      { identifier: expect.not.stringMatching(stale), status: 'acked', generation: 1 },
    ]);
  });

  it('flags one whose Stripe total matches neither outcome, and sends nothing', async () => {
    const id = await customer('odd', 5);
    sandbox().setFaults({ errorRate: 1 });
    await push();
    sandbox().setFaults({});
    await stripe().billing.meterEvents.create({ event_name: 's_units', payload: { stripe_customer_id: id, value: '2' } });
    await pause();
    const calls = meterEventCalls();
    await push();
    expect(meterEventCalls()).toBe(calls);
    const odd = await item('odd');
    expect(odd.status).toBe('error');
    expect(odd.lastError.message).toMatch(/Stripe reports 2, neither 0 \(not landed\) nor 5 \(landed\)/);
    expect(total(id)).toBe(2);
  });
});
