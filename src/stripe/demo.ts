import type Stripe from 'stripe';
import type { Logger } from '../log.js';
import { meterFor } from './lookups.js';
import type { MappingStore } from './mappings.js';

export const demoMetric = 'requests';
export const demoEventName = 'stripemeter_demo_requests';
export const demoCustomers = ['cus_1', 'cus_2', 'cus_3'];

/**
 * Gives the demo tenant a sandbox meter for `requests` and Stripe customers for cus_1..cus_3, so ingest -> push ->
 * Stripe totals works out of the box. Idempotent: existing mappings are left alone.
 */
export async function seedDemo(stripe: Stripe, mappings: MappingStore, log: Logger): Promise<void> {
  if (!(await mappings.getPrice('demo', demoMetric))) {
    let meter: Stripe.Billing.Meter | undefined;
    for await (const m of stripe.billing.meters.list({ limit: 100 })) if (m.event_name === demoEventName) meter = m;
    meter ??= await stripe.billing.meters.create({
      display_name: 'Demo requests',
      event_name: demoEventName,
      default_aggregation: { formula: 'sum' },
      customer_mapping: { type: 'by_id', event_payload_key: 'stripe_customer_id' },
      value_settings: { event_payload_key: 'value' },
    });
    const fit = meterFor(meter, demoMetric, 'sum');
    await mappings.putPrice({
      tenantId: 'demo',
      metric: demoMetric,
      meterId: meter.id,
      eventName: meter.event_name,
      formula: fit.formula,
      customerPayloadKey: fit.customerKey,
      valuePayloadKey: fit.valueKey,
      active: true,
    });
    log.info({ meter: meter.id }, 'demo: mapped metric requests to a sandbox meter');
  }
  const mapped = new Set((await mappings.listCustomers('demo')).map((c) => c.customerRef));
  for (const ref of demoCustomers) {
    if (mapped.has(ref)) continue;
    const customer = await stripe.customers.create({ name: `Demo ${ref}`, metadata: { customerRef: ref } });
    await mappings.bindCustomer({ tenantId: 'demo', customerRef: ref, stripeCustomerId: customer.id, subscriptionItemId: '' });
    log.info({ customerRef: ref, customer: customer.id }, 'demo: mapped customer to a sandbox customer');
  }
}
