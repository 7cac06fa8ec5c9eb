import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import { RetryStopped, withRetries } from '../ops/retry.js';
import type { TenantContext, TenantContextOf } from '../tenants/context.js';
import { periodBounds } from '../time/period.js';
import { failureOf, stripeRetry, stripeRetryable } from './errors.js';
import { meterEventTimestamp, type StripeGateway } from './gateway.js';
import { itemKey, type Intent, type PushItem, type PushLedger } from './ledger.js';
import type { StripeLimiter } from './limiter.js';
import { formulaFits, itemState, newIntent, nonAdditive, planItem, tooLargeForStripe, type ItemState } from './plan.js';

export type PushOptions = {
  /** An intent pending longer than this is settled from Stripe's summaries before anything is re-sent (~23 h). */
  settleAfterMs: number;
  /** Back-off before a refused (permanent 4xx) intent is tried again with an unchanged mapping. */
  failedRetryBaseMs: number;
};

/** Attempts per intent within one cycle (429s and transient errors) follow `stripeRetry`; the next cycle tries again. */
export type PushEngineDeps = {
  ledger: PushLedger;
  gateway: StripeGateway;
  limiter: StripeLimiter;
  /** The tenant's zone and connected account, resolved once per cycle: its meter events go there, never elsewhere. */
  tenantOf: TenantContextOf;
  metrics: Metrics;
  log: Logger;
  opts: PushOptions;
};

const tooLargeError = (item: PushItem) => ({
  message:
    `the local total ${item.localTotal} is beyond ${Number.MAX_SAFE_INTEGER}, the largest whole number a meter event ` +
    'carries exactly: nothing is sent for this item',
  code: 'total_too_large',
  httpStatus: null,
  nextAttemptAt: null,
});

const formulaMismatchError = (item: PushItem) => ({
  message:
    `metric ${item.metric} aggregates by ${item.aggregation || 'sum'}, which its Stripe meter ${item.meterId} (formula ${item.formula}) ` +
    `cannot bill: map it to a meter with formula ${nonAdditive(item) ? 'last' : 'sum'}; nothing is sent until then`,
  code: 'meter_formula_mismatch',
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
  /** `httpStatus` and `nextAttemptAt` are null for an error found before sending (`total_too_large`, `meter_formula_mismatch`). */
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
  /** Stripe's refusal of the key, as the latest run (one cycle or all tenants) saw it; cleared by an acknowledgement. */
  private rejectedKey: string | null = null;
  /** Metrics already logged as mapped to a meter that cannot bill them: once per process. */
  private loggedNotPushed = new Set<string>();
  private readonly ledger: PushLedger;
  private readonly gateway: StripeGateway;
  private readonly limiter: StripeLimiter;
  private readonly tenantOf: TenantContextOf;
  private readonly metrics: Metrics;
  private readonly log: Logger;
  private readonly opts: PushOptions;

  constructor(deps: PushEngineDeps) {
    ({ ledger: this.ledger, gateway: this.gateway, limiter: this.limiter, tenantOf: this.tenantOf, metrics: this.metrics, log: this.log, opts: this.opts } = deps);
  }

  /**
   * Shutdown: attempts already sent finish (or time out), none starts. Intents are persisted before any call, so
   * what was not acknowledged is pending and re-sent, with the same identifier, at the next start.
   */
  stop(): void {
    this.stopping = true;
  }

  /** Why Stripe rejected the service's key, if the latest run was refused so and nothing was acknowledged since. */
  authError(): string | null {
    return this.rejectedKey;
  }

  /** One cycle over every given tenant (the scheduled job): per tenant, so each diff stays bounded. */
  async cycleAll(tenantIds: string[]): Promise<CycleResult[]> {
    const results: CycleResult[] = [];
    for (const t of tenantIds) {
      if (this.stopping) break;
      results.push(await this.cycleTenant(t));
    }
    // Tenants that are gone no longer count in the gauges.
    for (const t of this.lastByTenant.keys()) if (!tenantIds.includes(t)) this.lastByTenant.delete(t);
    this.publishItemGauges();
    this.noteAuth(results);
    return results;
  }

  /** One cycle for one tenant (on demand). */
  async cycle(tenantId: string): Promise<CycleResult> {
    const result = await this.cycleTenant(tenantId);
    this.noteAuth([result]);
    return result;
  }

  private noteAuth(results: CycleResult[]): void {
    const failedAuth = results.find((r) => r.authError);
    if (failedAuth) this.rejectedKey = failedAuth.authError;
    else if (results.some((r) => r.acked > 0)) this.rejectedKey = null;
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

  private async cycleTenant(tenantId: string): Promise<CycleResult> {
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
    const tenant = await this.tenantOf(tenantId);
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
      const plan = planItem(item, pending, open.other, this.eventTimestamp(item, tenant, now), now, this.opts.settleAfterMs);
      toSave.push(...plan.save);
      if (plan.send.length > 0) toSend.push({ item, queue: plan.send });
      if (plan.settle) toSettle.push({ item, intent: plan.settle });
      this.count(item, plan.state, pending.length > 0, result);
      states.set(plan.state, (states.get(plan.state) ?? 0) + 1);
      if (plan.state === 'pending' || plan.state === 'error') {
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
        ...toSend.map(({ item, queue }) => this.send(item, queue, tenant, acks, result)),
        ...toSettle.map(({ item, intent }) => this.settle(item, intent, tenant, acks, result)),
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

  /** The cycle's counts of an item not held by pending intents, and the one-time log line of one too large. */
  private count(item: PushItem, state: ItemState, hasPending: boolean, result: CycleResult): void {
    if (hasPending) return;
    if (state === 'error' && !formulaFits(item) && !this.loggedNotPushed.has(`${item.tenantId}\u0000${item.metric}`)) {
      this.loggedNotPushed.add(`${item.tenantId}\u0000${item.metric}`);
      const { tenantId, metric, aggregation, formula } = item;
      this.log.error({ tenantId, metric, aggregation, formula, code: 'meter_formula_mismatch' }, formulaMismatchError(item).message);
    } else if (tooLargeForStripe(item) && !this.loggedTooLarge.has(itemKey(item))) {
      this.loggedTooLarge.add(itemKey(item));
      const { tenantId, metric, customerRef, period, localTotal } = item;
      this.log.error({ tenantId, metric, customerRef, period, localTotal, code: 'total_too_large' }, tooLargeError(item).message);
    }
    if (state === 'unmapped') {
      result.unmapped.items++;
      result.unmapped.units += item.delta;
    }
    if (state === 'unpushable') {
      result.unpushable.items++;
      result.unpushable.units += item.delta;
    }
  }

  /** Every item of a tenant with where it stands. */
  async status(tenantId: string): Promise<ItemStatus[]> {
    const tenant = await this.tenantOf(tenantId);
    const openByItem = groupOpen(await this.ledger.openIntents(tenantId));
    const items = await this.ledger.diff(tenantId, false);
    const now = Date.now();
    return items.map((item): ItemStatus => {
      const key = itemKey(item);
      const open = openByItem.get(key);
      const held = open?.pending.find((i) => i.seq > item.seq) ?? open?.other;
      const state = itemState(item, held, this.eventTimestamp(item, tenant, now) !== null);
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
        lastError: item.meterId && item.mappingActive && !formulaFits(item)
          ? formulaMismatchError(item)
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
    });
  }

  /** The lag gauge's value now, for health. */
  lagSeconds(): number {
    const oldest = Math.min(...this.unpushedSince.values());
    return Number.isFinite(oldest) ? Math.max(0, (Date.now() - oldest) / 1000) : 0;
  }

  /** The item's meter event timestamp under the one 35-day rule; null when its period no longer takes events. */
  private eventTimestamp(item: PushItem, tenant: TenantContext, now: number): number | null {
    return meterEventTimestamp(periodBounds(item.period, tenant.timeZone), now);
  }

  private async send(item: PushItem, queue: Intent[], tenant: TenantContext, acks: AckWriter, result: CycleResult): Promise<void> {
    // One customer + meter at a time, as Stripe allows.
    await this.limiter.run(`${queue[0]!.eventName}\u0000${queue[0]!.stripeCustomerId}`, async () => {
      let last: Intent | undefined;
      for (const intent of queue) {
        if (this.stopping || (await this.deliver(intent, tenant, acks, result)) !== 'acked') return;
        last = intent;
      }
      // Usage that arrived while these intents were open goes out in the same cycle.
      while (!this.stopping && last && item.target !== last.targetTotal && item.meterId && item.mappingActive && item.stripeCustomerId) {
        const eventTs = this.eventTimestamp(item, tenant, Date.now());
        if (eventTs === null) return;
        const next = newIntent({ ...item, pushed: last.targetTotal }, last.seq + 1, 0, eventTs, Date.now());
        await this.ledger.saveIntents([next]);
        if ((await this.deliver(next, tenant, acks, result)) !== 'acked') return;
        last = next;
      }
    });
  }

  /** Calls Stripe until acknowledged, refused, or out of attempts (`stripeRetry`) for this cycle. */
  private async deliver(intent: Intent, tenant: TenantContext, acks: AckWriter, result: CycleResult): Promise<'acked' | 'failed' | 'later'> {
    let attempts = 0;
    try {
      await withRetries(
        (attempt) => {
          attempts = attempt;
          const { eventName, identifier, eventTs: timestamp, stripeCustomerId, value, customerPayloadKey, valuePayloadKey } = intent;
          return this.gateway.createMeterEvent(tenant.stripeAccount, {
            eventName,
            identifier,
            timestamp,
            stripeCustomerId,
            value,
            customerKey: customerPayloadKey,
            valueKey: valuePayloadKey,
          });
        },
        stripeRetry,
        {
          retryable: stripeRetryable,
          onFailure: (err, _attempt, retrying) => {
            const failure = failureOf(err);
            this.metrics.stripeApiErrors.inc({ type: failure.kind, status: String(failure.status) });
            if (retrying) this.metrics.stripePush.inc({ result: failure.kind === 'rate_limited' ? 'rate_limited' : 'retried' });
          },
          stopped: () => this.stopping,
        },
      );
    } catch (err) {
      // Stopped during a back-off: the intent stays pending as it was saved.
      if (err instanceof RetryStopped) {
        result.retriedLater++;
        return 'later';
      }
      const failure = failureOf(err);
      const saved = { ...intent, attempts: intent.attempts + attempts, lastError: failure.message, lastHttpStatus: failure.status };
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
      await this.ledger.saveIntents([{ ...saved, lastErrorCode: failure.kind }]);
      this.metrics.stripePush.inc({ result: 'retry_later' });
      result.retriedLater++;
      return 'later';
    }
    acks.add({ ...intent, attempts: intent.attempts + attempts });
    this.metrics.stripePush.inc({ result: 'acked' });
    this.metrics.stripePushUnits.inc(Math.abs(intent.value));
    result.acked++;
    result.unitsPushed += intent.value;
    return 'acked';
  }

  /**
   * An intent pending past Stripe's identifier dedupe window: re-sending could count it twice, so Stripe's own total
   * for the period decides whether it landed.
   */
  private async settle(item: PushItem, intent: Intent, tenant: TenantContext, acks: AckWriter, result: CycleResult): Promise<void> {
    try {
      const period = periodBounds(intent.period, tenant.timeZone);
      const stripeTotal = await this.limiter.run(`${intent.eventName}\u0000${intent.stripeCustomerId}`, () =>
        this.gateway.periodTotal(tenant.stripeAccount, intent.meterId, intent.stripeCustomerId, period),
      );
      result.settled++;
      this.metrics.stripePush.inc({ result: 'settled' });
      if (stripeTotal === intent.targetTotal) {
        acks.add(intent);
        result.acked++;
      } else if (stripeTotal === intent.baseTotal) {
        await this.ledger.saveIntents([{ ...intent, status: 'expired' }]);
        const eventTs = this.eventTimestamp(item, tenant, Date.now());
        if (eventTs === null || !item.meterId || !item.stripeCustomerId || item.delta === 0) return;
        const fresh = newIntent(item, intent.seq, intent.generation + 1, eventTs, Date.now());
        await this.ledger.saveIntents([fresh]);
        await this.send(item, [fresh], tenant, acks, result);
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
      const failure = failureOf(err);
      this.metrics.stripeApiErrors.inc({ type: failure.kind, status: String(failure.status) });
      this.log.warn({ identifier: intent.identifier, error: failure.message }, 'could not settle an expired intent; will retry');
    }
  }
}
