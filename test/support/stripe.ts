import { expect } from 'vitest';
import type { StripeSandbox } from '../../src/stripe/sandbox/server.js';
import type { TestService } from './service.js';

/**
 * A tenant whose `metric` maps to a fresh meter in the service's built-in Stripe sandbox, with a sandbox customer
 * mapped for each customerRef. Returns what Stripe holds per customer, and a way to change usage on Stripe's side.
 */
export async function tenantWithMeter(svc: TestService, id: string, metric: string, customers: string[], timezone = 'UTC', sandbox?: StripeSandbox) {
  expect((await svc.request('POST', '/v1/admin/tenants', { body: { id, timezone } })).status).toBe(201);
  const stripe = svc.deps.stripe.client;
  const eventName = `${id}_${metric}`;
  const meter = await stripe.billing.meters.create({ display_name: id, event_name: eventName, default_aggregation: { formula: 'sum' } });
  expect((await svc.request('POST', '/v1/mappings', { body: { tenantId: id, metric, meterId: meter.id } })).status).toBe(201);
  const ids: Record<string, string> = {};
  for (const ref of customers) {
    ids[ref] = (await stripe.customers.create({ name: ref })).id;
    await svc.request('POST', '/v1/customers', { body: { tenantId: id, customerRef: ref, stripeCustomerId: ids[ref] } });
  }
  return {
    meterId: meter.id,
    stripeTotal: (ref: string) => (sandbox ?? svc.deps.stripe.sandbox!).totals({ meterId: meter.id, customer: ids[ref]! }),
    /** Usage changed on Stripe's side (a meter event sent outside stripemeter). */
    stripeSideEvent: (ref: string, value: number) =>
      stripe.billing.meterEvents.create({ event_name: eventName, payload: { stripe_customer_id: ids[ref]!, value: String(value) } }),
  };
}
