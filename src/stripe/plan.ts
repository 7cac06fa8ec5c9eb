import { createHash } from 'node:crypto';
import { additive } from '../meters/definitions.js';
import type { Intent, PushItem } from './ledger.js';

export type ItemState = 'ok' | 'pending' | 'unmapped' | 'unpushable' | 'error';

/**
 * A meter event value is a whole number, sent and summed by Stripe exactly only up to 2^53 - 1 (the sandbox refuses
 * more). An item whose total or delta is beyond it is refused loudly, an error with its own code, never rounded.
 */
/** A unique_count, max or latest meter: its period value is not a sum of parts, so it is pushed as itself. */
export const nonAdditive = (item: Pick<PushItem, 'aggregation'>) => item.aggregation !== '' && !additive(item.aggregation);

/**
 * Whether the mapped Stripe meter can bill the item: sums and counts go as deltas to a `sum` meter, which adds them
 * up; the others as the period's value to a `last` meter, which keeps the latest. Mappings are checked when made;
 * this catches a meter defined for a metric after it was mapped.
 */
export const formulaFits = (item: Pick<PushItem, 'aggregation' | 'formula'>) => (nonAdditive(item) ? item.formula === 'last' : item.formula !== 'last');

export const tooLargeForStripe = (item: PushItem) => !Number.isSafeInteger(item.target) || !Number.isSafeInteger(item.delta);

/**
 * Where an item stands. `pushable`: its period still accepts meter events. A pending intent wins over everything
 * (its outcome is open); a failed one shows as an error until it is retried or replaced.
 */
export function itemState(item: PushItem, held: Intent | undefined, pushable: boolean): ItemState {
  if (held?.status === 'pending') return 'pending';
  // Mapped to a meter that cannot bill it: an error to see, nothing is sent.
  if (item.meterId && item.mappingActive && !formulaFits(item)) return 'error';
  if (tooLargeForStripe(item)) return 'error';
  if (held?.status === 'stuck') return 'error';
  if (item.delta === 0) return 'ok';
  if (!item.meterId || !item.mappingActive || !item.stripeCustomerId) return 'unmapped';
  if (!pushable) return 'unpushable';
  if (held?.status === 'failed') return 'error';
  return 'pending';
}

/** The intent that brings Stripe from `item.pushed` to `item.target`, persisted before it is sent. */
export function newIntent(item: PushItem, seq: number, generation: number, eventTs: number, now: number): Intent {
  // Deterministic: the same ledger state yields the same identifier, so a re-planned intent dedupes at Stripe.
  const identifier = `sm_${createHash('sha256')
    .update(JSON.stringify([item.tenantId, item.metric, item.customerRef, item.period, seq, generation, item.target, item.eventName, item.stripeCustomerId]))
    .digest('hex')
    .slice(0, 40)}`;
  return {
    identifier,
    tenantId: item.tenantId,
    metric: item.metric,
    customerRef: item.customerRef,
    period: item.period,
    seq,
    generation,
    meterId: item.meterId,
    eventName: item.eventName,
    customerPayloadKey: item.customerPayloadKey,
    valuePayloadKey: item.valuePayloadKey,
    stripeCustomerId: item.stripeCustomerId,
    baseTotal: item.pushed,
    targetTotal: item.target,
    // A delta for a sum meter; the period's value itself for a last meter.
    value: nonAdditive(item) ? item.target : item.target - item.pushed,
    eventTs,
    status: 'pending',
    attempts: 0,
    lastError: '',
    lastErrorCode: '',
    lastHttpStatus: 0,
    nextAttemptAt: now,
    createdAt: now,
  };
}

export type ItemPlan = {
  state: ItemState;
  /** Ledger rows to write before anything is sent: fresh intents, retried ones, superseded ones. */
  save: Intent[];
  /** Intents to send, in order (empty: nothing to send). */
  send: Intent[];
  /** A pending intent older than `settleAfterMs`, settled from Stripe's totals before anything is re-sent. */
  settle: Intent | undefined;
};

/**
 * How an item's delta becomes intents. `pending`: its pending intents past `item.seq`, oldest first; `held`: its
 * latest failed or stuck one; `eventTs`: the timestamp its meter event would carry (null when Stripe no longer takes
 * the period).
 */
export function planItem(
  item: PushItem,
  pending: Intent[],
  held: Intent | undefined,
  eventTs: number | null,
  now: number,
  settleAfterMs: number,
): ItemPlan {
  const plan: ItemPlan = { state: 'pending', save: [], send: [], settle: undefined };
  if (pending.length > 0) {
    // Their outcome is unknown: they are resolved, oldest first, before anything new is sent for this item.
    if (now - pending[0]!.createdAt > settleAfterMs) plan.settle = pending[0];
    else plan.send = pending;
    return plan;
  }
  plan.state = itemState(item, held, eventTs !== null);
  if (plan.state === 'ok' && held?.status === 'failed') plan.save.push({ ...held, status: 'superseded' });
  if (plan.state !== 'pending' && !(plan.state === 'error' && held?.status === 'failed')) return plan;
  if (eventTs === null) return plan;
  let generation = 0;
  if (held?.status === 'failed') {
    const unchanged = held.eventName === item.eventName && held.stripeCustomerId === item.stripeCustomerId && held.targetTotal === item.target;
    if (unchanged && held.nextAttemptAt > now) return { ...plan, state: 'error' };
    if (unchanged) {
      const retry = { ...held, status: 'pending' as const };
      return { ...plan, state: 'pending', save: [retry], send: [retry] };
    }
    // The mapping or the total changed since Stripe refused it: a fresh intent replaces the refused one.
    plan.save.push({ ...held, status: 'superseded' });
    if (held.seq === item.seq + 1) generation = held.generation + 1;
  }
  const fresh = newIntent(item, item.seq + 1, generation, eventTs, now);
  return { ...plan, state: 'pending', save: [...plan.save, fresh], send: [fresh] };
}
