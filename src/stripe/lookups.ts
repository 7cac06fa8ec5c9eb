import Stripe from 'stripe';

export class StripeLookupError extends Error {
  constructor(
    readonly code: 'meter_not_found' | 'meter_inactive' | 'meter_mismatch' | 'customer_not_found' | 'customer_deleted' | 'stripe_unavailable',
    message: string,
  ) {
    super(message);
  }
}

const notFound = (err: unknown) => err instanceof Stripe.errors.StripeError && err.statusCode === 404;

function unavailable(err: unknown): StripeLookupError {
  const status = err instanceof Stripe.errors.StripeError ? err.statusCode : undefined;
  if (status === 401 || status === 403) {
    return new StripeLookupError('stripe_unavailable', `Stripe rejected the service's API key (HTTP ${status}); check STRIPE_SECRET_KEY`);
  }
  return new StripeLookupError('stripe_unavailable', `Stripe could not be reached${status ? ` (HTTP ${status})` : ''}; try again`);
}

/** The active meter named by id and/or event name, as Stripe has it now. */
export async function findMeter(stripe: Stripe, ref: { meterId?: string | undefined; eventName?: string | undefined }) {
  let meter: Stripe.Billing.Meter | undefined;
  try {
    if (ref.meterId) {
      meter = await stripe.billing.meters.retrieve(ref.meterId);
    } else {
      for await (const m of stripe.billing.meters.list({ limit: 100 })) {
        if (m.event_name === ref.eventName) {
          meter = m;
          break;
        }
      }
    }
  } catch (err) {
    if (!notFound(err)) throw unavailable(err);
  }
  const name = ref.meterId ?? `with event_name '${ref.eventName}'`;
  if (!meter) throw new StripeLookupError('meter_not_found', `Stripe has no meter ${name}`);
  if (ref.eventName && meter.event_name !== ref.eventName) {
    throw new StripeLookupError('meter_mismatch', `meter ${meter.id} has event_name '${meter.event_name}', not '${ref.eventName}'`);
  }
  if (meter.status !== 'active') throw new StripeLookupError('meter_inactive', `Stripe meter ${meter.id} is ${meter.status}`);
  return meter;
}

export async function findCustomer(stripe: Stripe, customerId: string) {
  let customer: Stripe.Customer | Stripe.DeletedCustomer;
  try {
    customer = await stripe.customers.retrieve(customerId);
  } catch (err) {
    if (notFound(err)) throw new StripeLookupError('customer_not_found', `Stripe has no customer ${customerId}`);
    throw unavailable(err);
  }
  if ('deleted' in customer && customer.deleted) {
    throw new StripeLookupError('customer_deleted', `Stripe customer ${customerId} is deleted`);
  }
  return customer;
}
