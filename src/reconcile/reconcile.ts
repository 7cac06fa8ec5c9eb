import { randomBytes } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import { approve, type AdjustmentDeps } from '../adjustments/lifecycle.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import {
  compareItems,
  getReconRun,
  insertReconReports,
  insertReconRun,
  insertStripeTotals,
  itemsToRead,
  latestReconRun,
  listReconRuns,
  reconRunItems,
  reconStatuses,
  type Compared,
  type ReconStatus,
} from '../storage/queries/reconcile.js';
import type { Before } from '../storage/queries/define.js';
import { nextVersion } from '../storage/version.js';
import { withRetries } from '../ops/retry.js';
import { failureOf, stripeRetry, stripeRetryable } from '../stripe/errors.js';
import { meterEventTimestamp, type StripeGateway } from '../stripe/gateway.js';
import type { StripeLimiter } from '../stripe/limiter.js';
import type { TenantContext, TenantContextOf } from '../tenants/context.js';
import { periodBounds, periodOf } from '../time/period.js';
import { toClickHouseTime } from '../storage/time.js';

export { reconStatuses, type ReconStatus };

export type Cause =
  | { cause: 'unpushed_delta'; units: number }
  | { cause: 'failed_push'; message: string }
  | { cause: 'late_events_beyond_window'; events: number; quantity: string }
  | { cause: 'duplicates_removed_by_replay'; events: number }
  | { cause: 'adjustments'; count: number; total: string }
  | { cause: 'stripe_differs_from_pushed'; stripe: string; pushed: number };

export type ReconItem = {
  metric: string;
  customerRef: string;
  stripeCustomer: string | null;
  period: string;
  local: string;
  stripe: string | null;
  pushed: number;
  pending: number;
  diffAbs: string | null;
  diffPct: number | null;
  status: ReconStatus;
  inFlight: boolean;
  lateEventsBeyondWindow: { count: number; quantity: string };
  causes: Cause[];
  /** The reconciliation adjustment this run recorded for the item (approved when aligned, pending when drifting). */
  adjustmentId: string | null;
};

export type ReconRun = {
  id: string;
  tenantId: string;
  metric: string | null;
  trigger: 'schedule' | 'api' | 'summary';
  status: 'running' | 'succeeded' | 'failed';
  periods: string[];
  counts: Partial<Record<ReconStatus, number>>;
  error: string | null;
  startedAt: string;
  finishedAt: string | null;
  items: ReconItem[];
};

/** A run as lists show it: without its items, their number instead. */
export type ListedReconRun = Omit<ReconRun, 'items'> & { itemCount: number };

export type ReconRunFilter = {
  /** '' for every tenant's. */
  tenantId: string;
  status?: ReconRun['status'] | undefined;
  trigger?: ReconRun['trigger'] | undefined;
  before?: Before | undefined;
  limit: number;
};

const fromRunRow = <R extends { metric: string; counts: string; error: string; finishedAt: string }>(row: R) => ({
  ...row,
  metric: row.metric || null,
  counts: row.counts ? (JSON.parse(row.counts) as ReconRun['counts']) : {},
  error: row.error || null,
  finishedAt: row.finishedAt || null,
});

export type ReconOptions = { epsilon: number; settleMs: number };

export type ReconcilerDeps = {
  client: ClickHouseClient;
  gateway: StripeGateway;
  limiter: StripeLimiter;
  adjustments: AdjustmentDeps;
  /** The tenant's zone and connected account (where its usage was pushed), resolved once per run. */
  tenantOf: TenantContextOf;
  metrics: Metrics;
  log: Logger;
  opts: ReconOptions;
};

/**
 * Compares local totals with what Stripe reports, per item and period, under the drift policy (ok within what Stripe
 * acknowledged, aligned within RECON_EPSILON, drift beyond it; docs/architecture.md): Stripe's totals are read
 * through the Stripe gateway (`periodTotal`, minute-aligned), stored per run, and compared in SQL
 * (sql/reconcile/compare.sql). Aligned items get an approved reconciliation adjustment that re-bases the push
 * ledger; drifting ones a pending one for an operator. Runs are persisted, repeatable, and set the drift gauges.
 */
export class Reconciler {
  /** Gauge label sets set per tenant, so items leaving the current and previous period are dropped. */
  private gaugeLabels = new Map<string, Map<string, Record<string, string>>>();
  private statusCounts = new Map<string, Partial<Record<ReconStatus, number>>>();

  private readonly client: ClickHouseClient;
  private readonly gateway: StripeGateway;
  private readonly limiter: StripeLimiter;
  private readonly adjustments: AdjustmentDeps;
  private readonly tenantOf: TenantContextOf;
  private readonly metrics: Metrics;
  private readonly log: Logger;
  private readonly opts: ReconOptions;

  constructor(deps: ReconcilerDeps) {
    ({
      client: this.client,
      gateway: this.gateway,
      limiter: this.limiter,
      adjustments: this.adjustments,
      tenantOf: this.tenantOf,
      metrics: this.metrics,
      log: this.log,
      opts: this.opts,
    } = deps);
  }

  /** The current and previous billing periods of a tenant: what a run covers. */
  periods(tenant: TenantContext, now = Date.now()): string[] {
    const tz = tenant.timeZone;
    const current = periodOf(now, tz);
    const previous = periodOf(periodBounds(current, tz).start.getTime() - 1, tz);
    return [current, previous];
  }

  async run(tenantId: string, metric: string | null, trigger: ReconRun['trigger']): Promise<ReconRun> {
    const started = performance.now();
    const tenant = await this.tenantOf(tenantId);
    const run: ReconRun = {
      id: `rec_${randomBytes(8).toString('hex')}`,
      tenantId,
      metric,
      trigger,
      status: 'running',
      periods: this.periods(tenant),
      counts: {},
      error: null,
      startedAt: new Date().toISOString(),
      finishedAt: null,
      items: [],
    };
    try {
      await this.saveRun(run);
      await this.readStripe(run, tenant);
      const rows = await this.compare(tenant, metric, run.periods, run.id);
      run.items = await this.act(run, rows);
      await this.saveReports(run);
      for (const i of run.items) run.counts[i.status] = (run.counts[i.status] ?? 0) + 1;
      run.status = 'succeeded';
      this.setGauges(run);
      this.metrics.reconRuns.inc({ result: 'success' });
    } catch (err) {
      this.log.error({ err, runId: run.id, tenantId }, 'reconciliation failed');
      run.status = 'failed';
      run.error = (err as Error).message.split('\n')[0] ?? 'failed';
      this.metrics.reconRuns.inc({ result: 'error' });
    }
    run.finishedAt = new Date().toISOString();
    this.metrics.reconDuration.observe((performance.now() - started) / 1000);
    await this.saveRun(run);
    return run;
  }

  /**
   * The live view: local side as of now, Stripe as of the latest successful run (a run is made first if there is
   * none). No adjustment is written.
   */
  async summary(tenantId: string, metric: string | null, period: string | null): Promise<{ run: Pick<ReconRun, 'id' | 'finishedAt'>; items: ReconItem[] }> {
    const tenant = await this.tenantOf(tenantId);
    let latest = await this.latestRun(tenantId);
    if (!latest) {
      const made = await this.run(tenantId, null, 'summary');
      latest = { id: made.id, finishedAt: made.finishedAt ?? '' };
    }
    const periods = period ? [period] : this.periods(tenant);
    const rows = await this.compare(tenant, metric, periods, latest.id);
    return { run: { id: latest.id, finishedAt: latest.finishedAt || null }, items: rows.map((r) => this.item(r, null)) };
  }

  async getRun(tenantId: string | null, id: string): Promise<ReconRun | undefined> {
    const [row] = await getReconRun(this.client, { id, tenantId: tenantId ?? '' });
    if (!row) return undefined;
    const items = await reconRunItems(this.client, { id, tenantId: row.tenantId });
    return {
      ...fromRunRow(row),
      items: items.map(({ lateCount, lateQuantity, causes, ...i }) => ({
          ...i,
          stripeCustomer: i.stripeCustomer || null,
          adjustmentId: i.adjustmentId || null,
          inFlight: false,
          lateEventsBeyondWindow: { count: lateCount, quantity: lateQuantity },
          causes: JSON.parse(causes) as Cause[],
        })),
    };
  }

  /** Runs newest first, without their items. */
  async listRuns(f: ReconRunFilter): Promise<ListedReconRun[]> {
    const rows = await listReconRuns(this.client, {
      tenantId: f.tenantId,
      status: f.status ?? '',
      trigger: f.trigger ?? '',
      beforeSecond: f.before?.second ?? 0,
      beforeId: f.before?.id ?? '',
      limit: f.limit,
    });
    return rows.map(fromRunRow);
  }

  private async latestRun(tenantId: string): Promise<{ id: string; finishedAt: string } | undefined> {
    return (await latestReconRun(this.client, { tenantId }))[0];
  }

  /** Stripe's total per mapped item, stored under the run. A failed read fails the run: no decision on half a picture. */
  private async readStripe(run: ReconRun, tenant: TenantContext): Promise<void> {
    const items = await itemsToRead(this.client, { tenantId: run.tenantId, metric: run.metric ?? '', periods: run.periods });
    const now = Date.now();
    const rows = await Promise.all(
      items.map(async (i) => {
        const period = periodBounds(i.period, tenant.timeZone);
        const total = await this.withRetries(() =>
          this.limiter.run(`${i.meterId}\u0000${i.stripeCustomerId}`, () =>
            this.gateway.periodTotal(tenant.stripeAccount, i.meterId, i.stripeCustomerId, period, now),
          ),
        );
        return {
          runId: run.id,
          tenantId: run.tenantId,
          metric: i.metric,
          customerRef: i.customerRef,
          period: i.period,
          meterId: i.meterId,
          stripeCustomerId: i.stripeCustomerId,
          stripeTotal: String(total),
        };
      }),
    );
    await insertStripeTotals(this.client, rows);
  }

  /** Stripe reads under `stripeRetry`; a read that still fails fails the run. */
  private async withRetries<T>(read: () => Promise<T>): Promise<T> {
    const onFailure = (err: unknown) => {
      const f = failureOf(err);
      this.metrics.stripeApiErrors.inc({ type: f.kind, status: String(f.status) });
    };
    try {
      return await withRetries(read, stripeRetry, { retryable: stripeRetryable, onFailure });
    } catch (err) {
      throw new Error(`reading Stripe's totals failed: ${failureOf(err).message}`);
    }
  }

  private async compare(tenant: TenantContext, metric: string | null, periods: string[], runId: string): Promise<Compared[]> {
    const tenantId = tenant.id;
    const bounds = periods.map((p) => periodBounds(p, tenant.timeZone));
    const since = Math.min(...bounds.map((b) => b.start.getTime()));
    // Periods whose meter events Stripe no longer takes, by the push's own rule.
    const now = Date.now();
    const unpushablePeriods = periods.filter((_, i) => meterEventTimestamp(bounds[i]!, now) === null);
    return compareItems(this.client, {
      tenantId,
      metric: metric ?? '',
      periods,
      runId,
      since: toClickHouseTime(since),
      epsilon: this.opts.epsilon,
      settleSeconds: Math.round(this.opts.settleMs / 1000),
      unpushablePeriods,
    });
  }

  private item(r: Compared, adjustmentId: string | null): ReconItem {
    const causes: Cause[] = [];
    if (r.status !== 'ok' || r.diffAbs !== '0') {
      if (r.pending !== 0) causes.push({ cause: 'unpushed_delta', units: r.pending });
      if (r.pushFailed) causes.push({ cause: 'failed_push', message: r.pushError });
      if (r.lateEvents > 0) causes.push({ cause: 'late_events_beyond_window', events: r.lateEvents, quantity: r.lateQuantity });
      if (r.duplicatesRemovedByReplay > 0) causes.push({ cause: 'duplicates_removed_by_replay', events: r.duplicatesRemovedByReplay });
      if (r.adjustments > 0) causes.push({ cause: 'adjustments', count: r.adjustments, total: r.adjustmentsTotal });
      if (r.stripe !== null && Number(r.stripe) !== r.pushed) causes.push({ cause: 'stripe_differs_from_pushed', stripe: r.stripe, pushed: r.pushed });
    }
    return {
      metric: r.metric,
      customerRef: r.customerRef,
      stripeCustomer: r.stripeCustomerId || null,
      period: r.period,
      local: r.local,
      stripe: r.stripe,
      pushed: r.pushed,
      pending: r.pending,
      diffAbs: r.diffAbs,
      diffPct: r.diffPct,
      status: r.status,
      inFlight: r.inFlight,
      lateEventsBeyondWindow: { count: r.lateEvents, quantity: r.lateQuantity },
      causes,
      adjustmentId,
    };
  }

  /** Aligned: an approved reconciliation adjustment re-bases the ledger on Stripe. Drift: a pending one, once. */
  private async act(run: ReconRun, rows: Compared[]): Promise<ReconItem[]> {
    const out: ReconItem[] = [];
    for (const r of rows) {
      let adjustmentId: string | null = null;
      if ((r.status === 'aligned' || r.status === 'drift') && r.stripe !== null && Number.isInteger(Number(r.stripe))) {
        const delta = String(Number(r.stripe) - r.pushed);
        const key = { tenantId: run.tenantId, metric: r.metric, customerRef: r.customerRef, period: r.period };
        const open = await this.adjustments.store.list({ ...key, reason: 'reconciliation', status: 'pending' });
        const same = open.find((a) => a.delta === delta);
        const note = `${r.status} found by reconciliation ${run.id}: Stripe ${r.stripe}, pushed ${r.pushed}, local ${r.local}`;
        if (r.status === 'drift') {
          adjustmentId = same?.id ?? (await this.adjustments.store.create({ ...key, delta, reason: 'reconciliation', note, status: 'pending', createdBy: 'reconciliation' })).id;
        } else {
          const a = same ?? (await this.adjustments.store.create({ ...key, delta, reason: 'reconciliation', note, status: 'pending', createdBy: 'reconciliation' }));
          try {
            await approve(this.adjustments, a, 'reconciliation');
          } catch (err) {
            // A push in flight: the next run decides again; the pending adjustment stays for it to reuse.
            this.log.info({ adjustment: a.id, reason: (err as Error).message }, 'alignment deferred');
          }
          adjustmentId = a.id;
        }
      }
      out.push(this.item(r, adjustmentId));
    }
    return out;
  }

  private setGauges(run: ReconRun): void {
    if (run.metric !== null) return; // a partial run does not decide which items left the window
    const current = new Map<string, Record<string, string>>();
    for (const i of run.items) {
      if (i.diffPct === null || i.diffAbs === null) continue;
      const labels = { tenant: run.tenantId, metric: i.metric, customer: i.customerRef, period: i.period };
      current.set(JSON.stringify(labels), labels);
      this.metrics.reconDiffPct.set(labels, i.diffPct);
      this.metrics.reconDiffAbs.set(labels, Number(i.diffAbs));
    }
    for (const [k, labels] of this.gaugeLabels.get(run.tenantId) ?? []) {
      if (!current.has(k)) {
        this.metrics.reconDiffPct.remove(labels);
        this.metrics.reconDiffAbs.remove(labels);
      }
    }
    this.gaugeLabels.set(run.tenantId, current);
    this.statusCounts.set(run.tenantId, run.counts);
    for (const s of reconStatuses) {
      let n = 0;
      for (const c of this.statusCounts.values()) n += c[s] ?? 0;
      this.metrics.reconItems.set({ status: s }, n);
    }
  }

  private async saveRun(run: ReconRun): Promise<void> {
    await insertReconRun(this.client, [
      {
        id: run.id,
        tenantId: run.tenantId,
        metric: run.metric ?? '',
        trigger: run.trigger,
        status: run.status,
        periods: run.periods,
        items: run.items.length,
        counts: JSON.stringify(run.counts),
        error: run.error ?? '',
        startedAt: toClickHouseTime(run.startedAt),
        finishedAt: run.finishedAt ? toClickHouseTime(run.finishedAt) : null,
        version: nextVersion(),
      },
    ]);
  }

  private async saveReports(run: ReconRun): Promise<void> {
    await insertReconReports(
      this.client,
      run.items.map((i) => ({
        runId: run.id,
        tenantId: run.tenantId,
        metric: i.metric,
        customerRef: i.customerRef,
        stripeCustomerId: i.stripeCustomer ?? '',
        period: i.period,
        localTotal: i.local,
        stripeTotal: i.stripe,
        pushedTotal: i.pushed,
        pending: i.pending,
        diffAbs: i.diffAbs,
        diffPct: i.diffPct,
        status: i.status,
        lateEvents: i.lateEventsBeyondWindow.count,
        lateQuantity: i.lateEventsBeyondWindow.quantity,
        causes: JSON.stringify(i.causes),
        adjustmentId: i.adjustmentId ?? '',
      })),
    );
  }
}
