import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { event, startTestService, type TestService } from '../../test/support/service.js';

/**
 * Mappings read the Stripe meter's formula and payload keys, refuse meters that do not fit the metric, and the push
 * sends what the meter reads. Through the HTTP API and the built-in sandbox over HTTP with the real stripe client.
 */
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ PUSH_INTERVAL: 'PT1H', RECON_INTERVAL: 'PT1H', STRIPE_TIMEOUT: 'PT2S' });
});
afterAll(async () => {
  await svc?.destroy();
});

const stripe = () => svc.deps.stripe.client;
type MeterParams = Parameters<ReturnType<typeof stripe>['billing']['meters']['create']>[0];
const meter = (name: string, extra: Partial<MeterParams> = {}) =>
  stripe().billing.meters.create({ display_name: name, event_name: name, default_aggregation: { formula: 'sum' }, ...extra });
const map = (metric: string, meterId: string) => svc.request('POST', '/v1/mappings', { body: { tenantId: 'demo', metric, meterId } });

describe('meter formulas and payload keys', () => {
  it('refuses a count meter, saying which meter to create', async () => {
    const m = await meter('f_count', { default_aggregation: { formula: 'count' } });
    const r = await map('f_count', m.id);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'meter_formula_unsupported', message: expect.stringMatching(/formula count.*default_aggregation\[formula\]=sum/) });
    expect((await svc.request('GET', '/v1/mappings/demo/f_count')).status).toBe(404);
  });

  it('refuses a last meter for a metric Stripe must add up, also when a mapping is re-pointed', async () => {
    const last = await meter('f_last', { default_aggregation: { formula: 'last' } });
    const r = await map('f_last', last.id);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'meter_formula_mismatch', message: expect.stringMatching(/aggregates by sum.*formula last.*formula\]=sum/) });
    const sum = await meter('f_sum');
    expect((await map('f_last', sum.id)).status).toBe(201);
    const moved = await svc.request('PUT', '/v1/mappings/demo/f_last', { body: { meterId: last.id } });
    expect(moved.status).toBe(400);
    expect(moved.body.error.code).toBe('meter_formula_mismatch');
    expect((await svc.request('GET', '/v1/mappings/demo/f_last')).body.meterId).toBe(sum.id);
  });

  it("stores the meter's payload keys, and the push sends the customer and the value under them", async () => {
    const m = await meter('f_keys', {
      customer_mapping: { type: 'by_id', event_payload_key: 'account' },
      value_settings: { event_payload_key: 'units' },
    });
    const mapped = await map('f_keys', m.id);
    expect(mapped.status).toBe(201);
    expect(mapped.body).toMatchObject({ formula: 'sum', customerPayloadKey: 'account', valuePayloadKey: 'units' });
    const customer = await stripe().customers.create({ name: 'keys' });
    expect((await svc.request('POST', '/v1/customers', { body: { tenantId: 'demo', customerRef: 'keys', stripeCustomerId: customer.id } })).status).toBe(201);
    const ingested = await svc.request('POST', '/v1/events/ingest', {
      body: { events: [event({ metric: 'f_keys', customerRef: 'keys', quantity: '7', idempotencyKey: 'keys-1' }), event({ metric: 'f_keys', customerRef: 'keys', quantity: '5', idempotencyKey: 'keys-2' })] },
    });
    expect(ingested.body.accepted).toBe(2);
    const pushed = await svc.request('POST', '/v1/push/run', { body: { tenantId: 'demo' } });
    expect(pushed.status).toBe(200);
    const sent = svc.deps.stripe.sandbox!.events().filter((e) => e.event_name === 'f_keys');
    expect(sent.map((e) => e.payload)).toEqual([{ account: customer.id, units: '12' }]);
    const summaries = await stripe().billing.meters.listEventSummaries(m.id, { customer: customer.id, start_time: 0, end_time: Math.ceil(Date.now() / 60_000) * 60 + 3600 });
    expect(summaries.data.reduce((n, s) => n + s.aggregated_value, 0)).toBe(12);
    const recon = await svc.request('POST', '/v1/reconciliation/run', { body: { tenantId: 'demo', metric: 'f_keys' } });
    expect(recon.body.items).toMatchObject([{ customerRef: 'keys', local: '12', stripe: '12', status: 'ok' }]);
  });
});
