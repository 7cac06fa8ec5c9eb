import { createHash } from 'node:crypto';
import type Stripe from 'stripe';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import { periodBounds } from '../time/period.js';
import { accountOptions } from './client.js';
import { classifyStripeError, type StripeFailure } from './errors.js';
import { itemKey, type Intent, type PushItem, type PushLedger } from './ledger.js';
import type { StripeLimiter } from './limiter.js';

export type PushOptions = {
  /** Attempts per intent within one cycle for 429s and transient errors; the next cycle tries again. */
  maxAttemptsPerCycle: number;
  /** An intent pending longer than this is settled from Stripe's summaries before anything is re-sent (~23 h). */
  settleAfterMs: number;
  /** Back-off before a refused (permanent 4xx) intent is tried again with an unchanged mapping. */
  failedRetryBaseMs: number;
  backoffBaseMs: number;
};

export type ItemState = 'ok' | 'pending' | 'unmapped' | 'unpushable' | 'error';

/**
 * Where an item stands. `pushable`: its period still accepts meter events. A pending intent wins over everything
 * (its outcome is open); a failed one shows as an error until it is retried or replaced.
 */
export function itemState(item: PushItem, held: Intent | undefined, pushable: boolean): ItemState {
  if (held?.status === 'pending') return 'pending';
  // Mapped, it is an error to see (nothing reaches the meter); unmapped, it is unmapped usage like any other.
  if (!pushedAggregation(item)) return item.meterId && item.mappingActive ? 'error' : 'unmapped';
  if (tooLargeForStripe(item)) return 'error';
  if (held?.status === 'stuck') return 'error';
  if (item.delta === 0) return 'ok';
  if (!item.meterId || !item.mappingActive || !item.stripeCustomerId) return 'unmapped';
  if (!pushable) return 'unpushable';
  if (held?.status === 'failed') return 'error';
  return 'pending';
}

/**
 * A meter event value is a whole number, sent and summed by Stripe exactly only up to 2^53 - 1 (the sandbox refuses
 * more). An item whose total or delta is beyond it is refused loudly, an error with its own code, never rounded.
 */
export const tooLargeForStripe = (item: PushItem) => !Number.isSafeInteger(item.target) || !Number.isSafeInteger(item.delta);

const tooLargeError = (item: PushItem) => ({
  message:
    `the local total ${item.localTotal} is beyond ${Number.MAX_SAFE_INTEGER}, the largest whole number a meter event ` +
    'carries exactly: nothing is sent for this item',
  code: 'total_too_large',
  httpStatus: null,
  nextAttemptAt: null,
});

/**
 * Sums and counts push deltas to a Stripe sum meter. Other aggregations (unique_count, max, latest) need a Stripe
 * `last` meter and the period's absolute value, which the push does not send yet: nothing is sent for their items (a
 * delta of their quantities would bill a wrong amount), which are an error with their own code once mapped.
 */
export const pushedAggregation = (item: PushItem) => item.aggregation === '' || item.aggregation === 'sum' || item.aggregation === 'count';

const notPushedError = (item: PushItem) => ({
  message:
    `metric ${item.metric} is a ${item.aggregation} meter: only sum and count meters are pushed to Stripe for now; ` +
    'nothing is sent for this item (its usage is kept and readable in GET /v1/usage)',
  code: 'aggregation_not_pushed',
  httpStatus: null,
  nextAttemptAt: null,
});

export type ItemStatus = {
  metric: string;
  customerRef: string;
  period: string;
  status: ItemState;
  localTotal: string;
  pushedTotal: number;
  delta: number;
  meterId: string | null;
  eventName: string | null;
  stripeCustomerId: string | null;
  pendingIntent: { identifier: string; value: number; targetTotal: number; attempts: number; createdAt: string } | null;
  /** `httpStatus` and `nextAttemptAt` are null for an error found before sending (`total_too_large`, `aggregation_not_pushed`). */
  lastError: { message: string; code: string; httpStatus: number | null; nextAttemptAt: string | null } | null;
  lagSeconds: number;
};

export type CycleResult = {
  tenantId: string;
  startedAt: string;
  durationMs: number;
  items: number;
  acked: number;
  unitsPushed: number;
  failed: number;
  retriedLater: number;
  unmapped: { items: number; units: number };
  unpushable: { items: number; units: number };
  settled: number;
  authError: string | null;
};

type OpenIntents = { pending: Intent[]; other?: Intent };

/** An item's open intents: pending ones in sequence order, and the latest failed or stuck one. */
function groupOpen(open: Intent[]): Map<string, OpenIntents> {
  const byItem = new Map<string, OpenIntents>();
  for (const i of open) {
    const key = itemKey(i);
    let g = byItem.get(key);
    if (!g) byItem.set(key, (g = { pending: [] }));
    if (i.status === 'pending') g.pending.push(i);
    else if (!g.other || i.seq > g.other.seq || (i.seq === g.other.seq && i.generation > g.other.generation)) g.other = i;
  }
  for (const g of byItem.values()) g.pending.sort((a, b) => a.seq - b.seq || a.generation - b.generation);
  return byItem;
}

/**
 * Acknowledged intents are recorded in batches (pushed_totals first, then the intents' status): one-row writes per
 * acknowledgement would cap the push rate far below Stripe's. An acknowledgement lost to a crash before its batch
 * is written leaves the intent pending; the next cycle re-sends it with the same identifier and Stripe dedupes it.
 */
class AckWriter {
  readonly written: Intent[] = [];
  private buffer: Intent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly ledger: PushLedger,
    private readonly flushMs = 50,
    private readonly maxRows = 1000,
  ) {}

  add(intent: Intent): void {
    this.buffer.push(intent);
    if (this.buffer.length >= this.maxRows) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.flushMs);
  }

  async close(): Promise<void> {
    this.flush();
    await this.chain;
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.buffer.splice(0);
    if (batch.length === 0) return;
    this.chain = this.chain.then(async () => {
      await this.ledger.savePushed(batch);
      await this.ledger.saveIntents(batch.map((i) => ({ ...i, status: 'acked' as const, lastError: '', lastErrorCode: '', lastHttpStatus: 200 })));
      this.written.push(...batch);
    });
  }
}

/** Meter event timestamps must lie within Stripe's last 35 days; keep an hour of margin for slow retries. */
const stripeWindowMs = 35 * 86_400_000 - 3600_000;

/**
 * One push cycle: diff local totals against pushed_totals, turn each delta into an intent with a deterministic
 * identifier persisted before Stripe is called, send through the limiter, and move pushed_total only on Stripe's
 * acknowledgement. A crash anywhere leaves a pending intent that the next cycle re-sends with the same identifier
 * (Stripe dedupes it) or, if older than Stripe's dedupe window, settles from Stripe's own totals first.
 */
export class PushEngine {
  /** When each item was first seen with an unpushed delta: the basis of stripe_push_lag_seconds. */
  private unpushedSince = new Map<string, number>();
  /** Set by stop(): no further Stripe attempt starts; what is left stays pending for the next cycle or start. */
  private stopping = false;
  /** What each tenant's latest cycle saw, for the item gauges. */
  private lastByTenant = new Map<string, { states: Map<ItemState, number>; unmappedUnits: number; unpushableUnits: number }>();
  /** Items already logged as too large for Stripe: logged once per process, shown in every status. */
  private loggedTooLarge = new Set<string>();
  /** Metrics already logged as not pushed for their aggregation: once per process. */
  private loggedNotPushed = new Set<string>();

  constructor(
    private readonly ledger: PushLedger,
    private readonly stripe: Stripe,
    private readonly limiter: StripeLimiter,
    private readonly timeZoneOf: (tenantId: string) => Promise<string>,
    /** The tenant's connected account: its meter events go there, never to the platform's or another's. */
    private readonly stripeAccountOf: (tenantId: string) => Promise<string | undefined>,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly opts: PushOptions,
  ) {}

  /**
   * Shutdown: attempts already sent finish (or time out), none starts. Intents are persisted before any call, so
   * what was not acknowledged is pending and re-sent, with the same identifier, at the next start.
   */
  stop(): void {
    this.stopping = true;
  }

  /** One cycle over every given tenant (the scheduled job): per tenant, so each diff stays bounded. */
  async cycleAll(tenantIds: string[]): Promise<CycleResult[]> {
    const results: CycleResult[] = [];
    for (const t of tenantIds) {
      if (this.stopping) break;
      results.push(await this.cycle(t));
    }
    // Tenants that are gone no longer count in the gauges.
    for (const t of this.lastByTenant.keys()) if (!tenantIds.includes(t)) this.lastByTenant.delete(t);
    this.publishItemGauges();
    return results;
  }

  /** push_items and the unmapped/unpushable units: each tenant as its latest cycle (scheduled or on demand) saw it. */
  private publishItemGauges(): void {
    const totals = { unmapped: 0, unpushable: 0 };
    const states = new Map<ItemState, number>();
    for (const last of this.lastByTenant.values()) {
      for (const [s, n] of last.states) states.set(s, (states.get(s) ?? 0) + n);
      totals.unmapped += last.unmappedUnits;
      totals.unpushable += last.unpushableUnits;
    }
    for (const s of ['ok', 'pending', 'unmapped', 'unpushable', 'error'] as const) this.metrics.pushItems.set({ status: s }, states.get(s) ?? 0);
    this.metrics.pushUnmappedUnits.set(totals.unmapped);
    this.metrics.pushUnpushableUnits.set(totals.unpushable);
  }

  async cycle(tenantId: string): Promise<CycleResult> {
    const states = new Map<ItemState, number>();
    const started = Date.now();
    const result: CycleResult = {
      tenantId,
      startedAt: new Date(started).toISOString(),
      durationMs: 0,
      items: 0,
      acked: 0,
      unitsPushed: 0,
      failed: 0,
      retriedLater: 0,
      unmapped: { items: 0, units: 0 },
      unpushable: { items: 0, units: 0 },
      settled: 0,
      authError: null,
    };
    const openByItem = groupOpen(await this.ledger.openIntents(tenantId));
    const items = await this.ledger.diff(
      tenantId,
      true,
      [...openByItem.values()].map(({ pending, other }) => {
        const i = (pending[0] ?? other)!;
        return [i.tenantId, i.metric, i.customerRef, i.period];
      }),
    );
    result.items = items.length;

    const now = Date.now();
    const toSave: Intent[] = [];
    const toSend: Array<{ item: PushItem; queue: Intent[] }> = [];
    const toSettle: Array<{ item: PushItem; intent: Intent }> = [];
    const seen = new Set<string>();
    for (const item of items) {
      const key = itemKey(item);
      seen.add(key);
      const open = openByItem.get(key) ?? { pending: [] };
      // Acknowledged before the process stopped, with pushed_total already past them: only the mark is missing.
      for (const i of open.pending.filter((i) => i.seq <= item.seq)) toSave.push({ ...i, status: 'acked' });
      const pending = open.pending.filter((i) => i.seq > item.seq);
      const state = await this.plan(item, pending, open.other, now, toSave, toSend, toSettle, result);
      states.set(state, (states.get(state) ?? 0) + 1);
      if (state === 'pending' || state === 'error') {
        if (!this.unpushedSince.has(key)) this.unpushedSince.set(key, pending[0] ? Math.min(pending[0].createdAt, now) : now);
      } else {
        this.unpushedSince.delete(key);
      }
    }
    for (const key of this.unpushedSince.keys()) {
      if (!seen.has(key) && key.startsWith(`${tenantId}\u0000`)) this.unpushedSince.delete(key);
    }
    await this.ledger.saveIntents(toSave);

    const acks = new AckWriter(this.ledger);
    try {
      await Promise.all([
        ...toSend.map(({ item, queue }) => this.send(item, queue, acks, result)),
        ...toSettle.map(({ item, intent }) => this.settle(item, intent, acks, result)),
      ]);
    } finally {
      await acks.close();
    }
    // Items this cycle brought up to date are no longer pending, nor lagging.
    const targets = new Map(items.map((i) => [itemKey(i), i.target]));
    for (const key of new Set(acks.written.filter((i) => targets.get(itemKey(i)) === i.targetTotal).map(itemKey))) {
      if (this.unpushedSince.delete(key)) {
        states.set('pending', (states.get('pending') ?? 1) - 1);
        states.set('ok', (states.get('ok') ?? 0) + 1);
      }
    }
    this.lastByTenant.set(tenantId, { states, unmappedUnits: result.unmapped.units, unpushableUnits: result.unpushable.units });
    this.publishItemGauges();
    this.metrics.pushLag.set(this.lagSeconds());
    result.durationMs = Date.now() - started;
    this.metrics.pushCycleDuration.observe(result.durationMs / 1000);
    return result;
  }

  /** Every item of a tenant with where it stands. */
  async status(tenantId: string): Promise<ItemStatus[]> {
    const openByItem = groupOpen(await this.ledger.openIntents(tenantId));
    const items = await this.ledger.diff(tenantId, false);
    const now = Date.now();
    return Promise.all(
      items.map(async (item): Promise<ItemStatus> => {
        const key = itemKey(item);
        const open = openByItem.get(key);
        const held = open?.pending.find((i) => i.seq > item.seq) ?? open?.other;
        const state = itemState(item, held, (await this.eventTimestamp(item, now)) !== null);
        const since = this.unpushedSince.get(key) ?? (held ? held.createdAt : undefined);
        return {
          metric: item.metric,
          customerRef: item.customerRef,
          period: item.period,
          status: state,
          localTotal: item.localTotal,
          pushedTotal: item.pushed,
          delta: item.delta,
          meterId: item.meterId || null,
          eventName: item.eventName || null,
          stripeCustomerId: item.stripeCustomerId || null,
          pendingIntent:
            held?.status === 'pending'
              ? {
                  identifier: held.identifier,
                  value: held.value,
                  targetTotal: held.targetTotal,
                  attempts: held.attempts,
                  createdAt: new Date(held.createdAt).toISOString(),
                }
              : null,
          lastError: !pushedAggregation(item)
            ? notPushedError(item)
            : tooLargeForStripe(item)
            ? tooLargeError(item)
            : held?.lastError
            ? {
                message: held.lastError,
                code: held.lastErrorCode,
                httpStatus: held.lastHttpStatus,
                nextAttemptAt: new Date(held.nextAttemptAt).toISOString(),
              }
            : null,
          lagSeconds: state === 'ok' || since === undefined ? 0 : Math.round((now - since) / 1000),
        };
      }),
    );
  }

  /** The lag gauge's value now, for health. */
  lagSeconds(): number {
    const oldest = Math.min(...this.unpushedSince.values());
    return Number.isFinite(oldest) ? Math.max(0, (Date.now() - oldest) / 1000) : 0;
  }

  private async plan(
    item: PushItem,
    pending: Intent[],
    held: Intent | undefined,
    now: number,
    toSave: Intent[],
    toSend: Array<{ item: PushItem; queue: Intent[] }>,
    toSettle: Array<{ item: PushItem; intent: Intent }>,
    result: CycleResult,
  ): Promise<ItemState> {
    const eventTs = await this.eventTimestamp(item, now);
    if (pending.length > 0) {
      // Their outcome is unknown: they are resolved, oldest first, before anything new is sent for this item.
      if (now - pending[0]!.createdAt > this.opts.settleAfterMs) toSettle.push({ item, intent: pending[0]! });
      else toSend.push({ item, queue: pending });
      return 'pending';
    }
    const state = itemState(item, held, eventTs !== null);
    if (!pushedAggregation(item)) {
      if (state === 'unmapped') result.unmapped.items++;
      if (state === 'error' && !this.loggedNotPushed.has(`${item.tenantId}\u0000${item.metric}`)) {
        this.loggedNotPushed.add(`${item.tenantId}\u0000${item.metric}`);
        const { tenantId, metric, aggregation } = item;
        this.log.error({ tenantId, metric, aggregation, code: 'aggregation_not_pushed' }, notPushedError(item).message);
      }
      return state;
    }
    if (tooLargeForStripe(item) && !this.loggedTooLarge.has(itemKey(item))) {
      this.loggedTooLarge.add(itemKey(item));
      const { tenantId, metric, customerRef, period, localTotal } = item;
      this.log.error({ tenantId, metric, customerRef, period, localTotal, code: 'total_too_large' }, tooLargeError(item).message);
    }
    if (state === 'ok' && held?.status === 'failed') toSave.push({ ...held, status: 'superseded' });
    if (state === 'unmapped') {
      result.unmapped.items++;
      result.unmapped.units += item.delta;
    }
    if (state === 'unpushable') {
      result.unpushable.items++;
      result.unpushable.units += item.delta;
    }
    if (state !== 'pending' && !(state === 'error' && held?.status === 'failed')) return state;
    if (eventTs === null) return state;
    let generation = 0;
    if (held?.status === 'failed') {
      const unchanged =
        held.eventName === item.eventName && held.stripeCustomerId === item.stripeCustomerId && held.targetTotal === item.target;
      if (unchanged && held.nextAttemptAt > now) return 'error';
      if (unchanged) {
        const retry = { ...held, status: 'pending' as const };
        toSend.push({ item, queue: [retry] });
        toSave.push(retry);
        return 'pending';
      }
      // The mapping or the total changed since Stripe refused it: a fresh intent replaces the refused one.
      toSave.push({ ...held, status: 'superseded' });
      if (held.seq === item.seq + 1) generation = held.generation + 1;
    }
    const fresh = this.newIntent(item, item.seq + 1, generation, eventTs, now);
    toSave.push(fresh);
    toSend.push({ item, queue: [fresh] });
    return 'pending';
  }

  private newIntent(item: PushItem, seq: number, generation: number, eventTs: number, now: number): Intent {
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
      stripeCustomerId: item.stripeCustomerId,
      baseTotal: item.pushed,
      targetTotal: item.target,
      value: item.target - item.pushed,
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

  /**
   * A time inside the item's billing period that Stripe still accepts: now for the current period, the period's last
   * second for a closed one. Null when the period closed more than 35 days ago (meter events cannot reach it).
   */
  private async eventTimestamp(item: PushItem, now: number): Promise<number | null> {
    const { start, end } = periodBounds(item.period, await this.timeZoneOf(item.tenantId));
    const ts = Math.min(Math.max(now, start.getTime()), end.getTime() - 1000);
    if (ts < now - stripeWindowMs) return null;
    return Math.floor(ts / 1000);
  }

  private async send(item: PushItem, queue: Intent[], acks: AckWriter, result: CycleResult): Promise<void> {
    // One customer + meter at a time, as Stripe allows.
    await this.limiter.run(`${queue[0]!.eventName}\u0000${queue[0]!.stripeCustomerId}`, async () => {
      let last: Intent | undefined;
      for (const intent of queue) {
        if (this.stopping || (await this.deliver(intent, acks, result)) !== 'acked') return;
        last = intent;
      }
      // Usage that arrived while these intents were open goes out in the same cycle.
      while (!this.stopping && last && item.target !== last.targetTotal && item.meterId && item.mappingActive && item.stripeCustomerId) {
        const eventTs = await this.eventTimestamp(item, Date.now());
        if (eventTs === null) return;
        const next = this.newIntent({ ...item, pushed: last.targetTotal }, last.seq + 1, 0, eventTs, Date.now());
        await this.ledger.saveIntents([next]);
        if ((await this.deliver(next, acks, result)) !== 'acked') return;
        last = next;
      }
    });
  }

  /** Calls Stripe until acknowledged, refused, or out of attempts for this cycle. */
  private async deliver(intent: Intent, acks: AckWriter, result: CycleResult): Promise<'acked' | 'failed' | 'later'> {
    for (let attempt = 1; ; attempt++) {
      // Stopped during a back-off: the intent stays pending as it was saved.
      if (attempt > 1 && this.stopping) {
        result.retriedLater++;
        return 'later';
      }
      let failure: StripeFailure;
      try {
        await this.stripe.billing.meterEvents.create(
          {
            event_name: intent.eventName,
            identifier: intent.identifier,
            timestamp: intent.eventTs,
            payload: { stripe_customer_id: intent.stripeCustomerId, value: String(intent.value) },
          },
          accountOptions(await this.stripeAccountOf(intent.tenantId)),
        );
        acks.add({ ...intent, attempts: intent.attempts + attempt });
        this.metrics.stripePush.inc({ result: 'acked' });
        this.metrics.stripePushUnits.inc(Math.abs(intent.value));
        result.acked++;
        result.unitsPushed += intent.value;
        return 'acked';
      } catch (err) {
        failure = classifyStripeError(err);
      }
      this.metrics.stripeApiErrors.inc({ type: failure.kind, status: String(failure.status) });
      const saved = { ...intent, attempts: intent.attempts + attempt, lastError: failure.message, lastHttpStatus: failure.status };
      if (failure.kind === 'permanent' || failure.kind === 'auth') {
        const backoff = Math.min(this.opts.failedRetryBaseMs * 2 ** Math.min(saved.attempts - 1, 6), 3600_000);
        await this.ledger.saveIntents([
          { ...saved, status: 'failed', lastErrorCode: failure.kind === 'auth' ? 'authentication' : failure.code, nextAttemptAt: Date.now() + backoff },
        ]);
        this.metrics.stripePush.inc({ result: 'failed' });
        this.log.warn({ identifier: intent.identifier, status: failure.status, error: failure.message }, 'stripe refused a meter event');
        result.failed++;
        if (failure.kind === 'auth') result.authError = failure.message;
        return 'failed';
      }
      if (attempt >= this.opts.maxAttemptsPerCycle || this.stopping) {
        await this.ledger.saveIntents([{ ...saved, lastErrorCode: failure.kind }]);
        this.metrics.stripePush.inc({ result: 'retry_later' });
        result.retriedLater++;
        return 'later';
      }
      this.metrics.stripePush.inc({ result: failure.kind === 'rate_limited' ? 'rate_limited' : 'retried' });
      const wait =
        failure.kind === 'rate_limited'
          ? failure.retryAfterMs + Math.random() * 250
          : this.opts.backoffBaseMs * 2 ** (attempt - 1) * (0.5 + Math.random());
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  /**
   * An intent pending past Stripe's identifier dedupe window: re-sending could count it twice, so Stripe's own total
   * for the period decides whether it landed.
   */
  private async settle(item: PushItem, intent: Intent, acks: AckWriter, result: CycleResult): Promise<void> {
    try {
      const { start, end } = periodBounds(intent.period, await this.timeZoneOf(intent.tenantId));
      const options = accountOptions(await this.stripeAccountOf(intent.tenantId));
      const summaries = await this.limiter.run(`${intent.eventName}\u0000${intent.stripeCustomerId}`, () =>
        this.stripe.billing.meters.listEventSummaries(
          intent.meterId,
          {
            customer: intent.stripeCustomerId,
            start_time: Math.floor(start.getTime() / 60_000) * 60,
            end_time: Math.ceil(end.getTime() / 60_000) * 60,
          },
          options,
        ),
      );
      const stripeTotal = summaries.data.reduce((n, s) => n + s.aggregated_value, 0);
      result.settled++;
      this.metrics.stripePush.inc({ result: 'settled' });
      if (stripeTotal === intent.targetTotal) {
        acks.add(intent);
        result.acked++;
      } else if (stripeTotal === intent.baseTotal) {
        await this.ledger.saveIntents([{ ...intent, status: 'expired' }]);
        const eventTs = await this.eventTimestamp(item, Date.now());
        if (eventTs === null || !item.meterId || !item.stripeCustomerId || item.delta === 0) return;
        const fresh = this.newIntent(item, intent.seq, intent.generation + 1, eventTs, Date.now());
        await this.ledger.saveIntents([fresh]);
        await this.send(item, [fresh], acks, result);
      } else {
        await this.ledger.saveIntents([
          {
            ...intent,
            status: 'stuck',
            lastErrorCode: 'unsettled',
            lastError: `pending past the dedupe window and Stripe reports ${stripeTotal}, neither ${intent.baseTotal} (not landed) nor ${intent.targetTotal} (landed); reconcile this item`,
          },
        ]);
      }
    } catch (err) {
      const failure = classifyStripeError(err);
      this.metrics.stripeApiErrors.inc({ type: failure.kind, status: String(failure.status) });
      this.log.warn({ identifier: intent.identifier, error: failure.message }, 'could not settle an expired intent; will retry');
    }
  }
}
