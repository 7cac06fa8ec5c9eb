import type Stripe from 'stripe';
import { accountOptions } from './client.js';
import { StripeCallError, classifyStripeError } from './errors.js';

/**
 * A meter event as the push sends it: `value` a whole number, `timestamp` in seconds, the customer and the value
 * under the payload keys the meter reads (`customerKey`, `valueKey`: Stripe's defaults `stripe_customer_id`, `value`).
 */
export type MeterEventInput = {
  eventName: string;
  identifier: string;
  timestamp: number;
  stripeCustomerId: string;
  value: number;
  customerKey: string;
  valueKey: string;
};

export type GatewayMeter = Pick<Stripe.Billing.Meter, 'id' | 'event_name' | 'status'> &
  Partial<Pick<Stripe.Billing.Meter, 'default_aggregation' | 'customer_mapping' | 'value_settings'>>;

/** How a meter aggregates and where its events carry the customer and the value. */
export type MeterSettings = { formula: 'sum' | 'count' | 'last'; customerKey: string; valueKey: string };

/** A meter's settings, Stripe's defaults where it states none. */
export function meterSettings(meter: GatewayMeter): MeterSettings {
  return {
    formula: (meter.default_aggregation?.formula as MeterSettings['formula'] | undefined) ?? 'sum',
    customerKey: meter.customer_mapping?.event_payload_key || 'stripe_customer_id',
    valueKey: meter.value_settings?.event_payload_key || 'value',
  };
}
export type GatewayCustomer = { id: string; deleted: boolean };

/** A billing period's bounds, as `periodBounds` gives them. */
export type PeriodWindow = { start: Date; end: Date };

/**
 * Every Stripe call the service makes for a tenant. Each takes the tenant's connected account (`stripeAccount`,
 * undefined for the platform account), sent as the Stripe-Account header. A failed call rejects with a
 * StripeCallError whose `failure` says what to do next (see `stripeRetryable`).
 */
export interface StripeGateway {
  createMeterEvent(stripeAccount: string | undefined, event: MeterEventInput): Promise<void>;
  /** Cancels a meter event Stripe received less than 24 hours ago. */
  cancelMeterEvent(stripeAccount: string | undefined, eventName: string, identifier: string): Promise<void>;
  /** Stripe's total for a customer on a meter over `window` (`summaryWindow`), every page read. */
  periodTotal(stripeAccount: string | undefined, meterId: string, stripeCustomerId: string, window: PeriodWindow, now?: number): Promise<number>;
  retrieveMeter(stripeAccount: string | undefined, meterId: string): Promise<GatewayMeter>;
  /** Every meter of the account, page by page. */
  listMeters(stripeAccount: string | undefined): AsyncIterable<GatewayMeter>;
  retrieveCustomer(stripeAccount: string | undefined, customerId: string): Promise<GatewayCustomer>;
}

const dayMs = 86_400_000;

/** Stripe takes a meter event timestamped within its past 35 calendar days (and up to 5 minutes ahead). */
export const stripeEventMaxAgeMs = 35 * dayMs;

/**
 * Kept off the oldest end of that window: an intent's timestamp is fixed when it is planned, and its retries can
 * reach Stripe an hour later.
 */
export const eventAgeMarginMs = 3600_000;

/**
 * The one 35-day rule. The timestamp (seconds) a meter event for usage of the period carries: now for the current
 * period, the period's first second for a future one, its last second for a closed one. Null when Stripe no longer
 * takes events for the period: that timestamp is older than 35 days less the margin. Push (unpushable items) and
 * reconciliation (unpushable periods) both decide by it.
 */
export function meterEventTimestamp(period: PeriodWindow, now: number): number | null {
  const ts = Math.min(Math.max(now, period.start.getTime()), period.end.getTime() - 1000);
  if (ts < now - (stripeEventMaxAgeMs - eventAgeMarginMs)) return null;
  return Math.floor(ts / 1000);
}

/**
 * The window Stripe's summaries are asked for: the period widened to whole minutes (Stripe requires minute-aligned
 * bounds), its end capped at the minute after the current one, so a running period is not asked about the future.
 */
export function summaryWindow(period: PeriodWindow, now: number): { start_time: number; end_time: number } {
  const nowMinute = Math.ceil(now / 60_000) * 60;
  return {
    start_time: Math.floor(period.start.getTime() / 60_000) * 60,
    end_time: Math.min(Math.ceil(period.end.getTime() / 60_000) * 60, nowMinute + 60),
  };
}

/** Stripe's largest page. */
export const pageSize = 100;

/**
 * The one paging rule: every item of a Stripe list, `pageSize` a page, each page asked for after the last item of
 * the one before, until Stripe says there are no more.
 */
export async function* everyItem<T extends { id: string }>(
  page: (params: { limit: number; starting_after?: string }) => Promise<{ data: T[]; has_more: boolean }>,
): AsyncGenerator<T> {
  let after: string | undefined;
  for (;;) {
    const { data, has_more } = await page(after === undefined ? { limit: pageSize } : { limit: pageSize, starting_after: after });
    yield* data;
    if (!has_more || data.length === 0) return;
    after = data.at(-1)!.id;
  }
}

/** Runs a stripe-node call, turning what it throws into a StripeCallError. */
async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new StripeCallError(classifyStripeError(err));
  }
}

/** The gateway over stripe-node (`createStripeClient`), whose own retries are off: callers retry by `stripeRetry`. */
export function stripeNodeGateway(stripe: Stripe): StripeGateway {
  return {
    async createMeterEvent(stripeAccount, e) {
      await call(() =>
        stripe.billing.meterEvents.create(
          {
            event_name: e.eventName,
            identifier: e.identifier,
            timestamp: e.timestamp,
            payload: { [e.customerKey]: e.stripeCustomerId, [e.valueKey]: String(e.value) },
          },
          accountOptions(stripeAccount),
        ),
      );
    },
    async cancelMeterEvent(stripeAccount, eventName, identifier) {
      await call(() => stripe.billing.meterEventAdjustments.create({ event_name: eventName, type: 'cancel', cancel: { identifier } }, accountOptions(stripeAccount)));
    },
    async periodTotal(stripeAccount, meterId, customer, window, now = Date.now()) {
      const params = { customer, ...summaryWindow(window, now) };
      let total = 0;
      const pages = everyItem((page) => call(() => stripe.billing.meters.listEventSummaries(meterId, { ...params, ...page }, accountOptions(stripeAccount))));
      for await (const s of pages) total += s.aggregated_value;
      return total;
    },
    retrieveMeter: (stripeAccount, meterId) => call(() => stripe.billing.meters.retrieve(meterId, {}, accountOptions(stripeAccount))),
    listMeters: (stripeAccount) => everyItem((page) => call(() => stripe.billing.meters.list(page, accountOptions(stripeAccount)))),
    async retrieveCustomer(stripeAccount, customerId) {
      const c = await call(() => stripe.customers.retrieve(customerId, {}, accountOptions(stripeAccount)));
      return { id: c.id, deleted: 'deleted' in c && c.deleted === true };
    },
  };
}
