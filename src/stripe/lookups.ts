import { additive, type Aggregation } from '../meters/definitions.js';
import { failureOf, type StripeFailure } from './errors.js';
import { meterSettings, type GatewayMeter, type StripeGateway } from './gateway.js';

export class StripeLookupError extends Error {
  constructor(
    readonly code:
      | 'meter_not_found'
      | 'meter_inactive'
      | 'meter_mismatch'
      | 'meter_formula_unsupported'
      | 'meter_formula_mismatch'
      | 'customer_not_found'
      | 'customer_deleted'
      | 'stripe_unavailable',
    message: string,
  ) {
    super(message);
  }
}

const notFound = (f: StripeFailure) => f.status === 404;

function unavailable(f: StripeFailure, stripeAccount: string | undefined): StripeLookupError {
  const status = f.status || undefined;
  if (status === 403 && stripeAccount) {
    return new StripeLookupError('stripe_unavailable', `Stripe refused access to the tenant's connected account ${stripeAccount} (HTTP 403); check the tenant's stripeAccount`);
  }
  if (status === 401 || status === 403) {
    return new StripeLookupError('stripe_unavailable', `Stripe rejected the service's API key (HTTP ${status}); check STRIPE_SECRET_KEY`);
  }
  return new StripeLookupError('stripe_unavailable', `Stripe could not be reached${status ? ` (HTTP ${status})` : ''}; try again`);
}

/** The active meter named by id and/or event name, as Stripe has it now in the tenant's account (`stripeAccount`). */
export async function findMeter(
  gateway: StripeGateway,
  ref: { meterId?: string | undefined; eventName?: string | undefined },
  stripeAccount?: string,
): Promise<GatewayMeter> {
  let meter: GatewayMeter | undefined;
  try {
    if (ref.meterId) {
      meter = await gateway.retrieveMeter(stripeAccount, ref.meterId);
    } else {
      for await (const m of gateway.listMeters(stripeAccount)) {
        if (m.event_name === ref.eventName) {
          meter = m;
          break;
        }
      }
    }
  } catch (err) {
    const f = failureOf(err);
    if (!notFound(f)) throw unavailable(f, stripeAccount);
  }
  const name = ref.meterId ?? `with event_name '${ref.eventName}'`;
  if (!meter) throw new StripeLookupError('meter_not_found', `Stripe has no meter ${name}`);
  if (ref.eventName && meter.event_name !== ref.eventName) {
    throw new StripeLookupError('meter_mismatch', `meter ${meter.id} has event_name '${meter.event_name}', not '${ref.eventName}'`);
  }
  if (meter.status !== 'active') throw new StripeLookupError('meter_inactive', `Stripe meter ${meter.id} is ${meter.status}`);
  return meter;
}

export async function findCustomer(gateway: StripeGateway, customerId: string, stripeAccount?: string) {
  let customer;
  try {
    customer = await gateway.retrieveCustomer(stripeAccount, customerId);
  } catch (err) {
    const f = failureOf(err);
    if (notFound(f)) throw new StripeLookupError('customer_not_found', `Stripe has no customer ${customerId}`);
    throw unavailable(f, stripeAccount);
  }
  if (customer.deleted) throw new StripeLookupError('customer_deleted', `Stripe customer ${customerId} is deleted`);
  return customer;
}


/**
 * The meter's settings, checked against the metric's aggregation. An additive metric is pushed as deltas, which a
 * `sum` meter adds up; the others as the period's value, which a `last` meter keeps. A `count` meter counts meter
 * events, which delta pushes make meaningless: it is refused for every metric, saying which meter to create.
 */
export function meterFor(meter: GatewayMeter, metric: string, aggregation: Aggregation): { formula: 'sum' | 'last'; customerKey: string; valueKey: string } {
  const s = meterSettings(meter);
  const needed = additive(aggregation) ? 'sum' : 'last';
  const create = `create a Stripe meter with default_aggregation[formula]=${needed} for it`;
  if (s.formula === 'count') {
    throw new StripeLookupError(
      'meter_formula_unsupported',
      `Stripe meter ${meter.id} counts meter events (formula count), and stripemeter sends one meter event per change, not per usage event; metric ${metric} (${aggregation}): ${create}`,
    );
  }
  if (s.formula !== needed) {
    throw new StripeLookupError(
      'meter_formula_mismatch',
      `metric ${metric} aggregates by ${aggregation}, which Stripe must ${needed === 'sum' ? 'add up (formula sum)' : 'keep as the latest value (formula last)'}; meter ${meter.id} has formula ${s.formula}: ${create}`,
    );
  }
  return { formula: s.formula, customerKey: s.customerKey, valueKey: s.valueKey };
}
