import type { ClickHouseClient } from '@clickhouse/client';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import { deleteBefore, dropPartition, insertHorizon, localPartitions, recordedHorizon, rowsBefore } from '../storage/queries/retention.js';
import { runningReplayRuns } from '../storage/queries/replay.js';
import type { RenderTarget } from '../storage/render.js';
import { toClickHouseTime } from '../storage/time.js';

/**
 * Tables of raw rows the retention drops: both partitioned by the month of `ts`, both describing events only. What
 * billing reads is never touched: counters, meter states, `event_keys` (the dedupe identity of every key), adjustments,
 * the push ledger and reconciliation history.
 */
export const rawTables = ['events', 'replayed_events'] as const;
export type RawTable = (typeof rawTables)[number];

export type TableRun = { table: RawTable; partitionsDropped: string[]; rowsDropped: number; rowsDeleted: number };

export type RetentionRun = {
  /** The recorded cutoff: raw rows before it may be gone, and replay refuses windows starting before it. */
  horizon: string;
  /** Rows before this were removed: the horizon, or earlier while a running replay apply's window holds it back. */
  cutoff: string;
  heldBackBy: string[];
  tables: TableRun[];
  durationMs: number;
};

/** A month's partition id (toYYYYMM in UTC). */
export function monthOf(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

/**
 * What removes a table's rows before the cutoff: each month wholly before it is dropped as a partition (cheap, no
 * rewrite), the month the cutoff falls in gets a lightweight delete when it has rows before the cutoff. `counted` are
 * the rows before the cutoff per month over every shard; `local` the partitions of this node, which add months whose
 * rows are all deleted but whose parts remain.
 */
export function planTable(cutoffMs: number, counted: Array<{ month: string; rows: number }>, local: string[]) {
  const straddling = monthOf(cutoffMs);
  const rows = new Map(counted.map((c) => [c.month, c.rows]));
  const months = new Set([...rows.keys(), ...local.filter((id) => /^\d{6}$/.test(id))]);
  const drop = [...months]
    .filter((id) => id < straddling)
    .sort()
    .map((id) => ({ id, rows: rows.get(id) ?? 0 }));
  return { drop, deleteRows: rows.get(straddling) ?? 0 };
}

/** The first instant raw events are held from: the recorded cutoff or now - retention, the later; null: all held. */
export function horizonOf(recordedMs: number | null, nowMs: number, retentionMs: number | null): number | null {
  const due = retentionMs === null ? null : nowMs - retentionMs;
  if (recordedMs === null) return due;
  return due === null ? recordedMs : Math.max(recordedMs, due);
}

/** Where a replay request's (hour-aligned) window starts; 0 when unreadable, which holds every row back. */
function windowStart(request: string): number {
  try {
    const ms = Date.parse((JSON.parse(request) as { window: { effective: { since: string } } }).window.effective.since);
    return Number.isFinite(ms) ? ms : 0;
  } catch {
    return 0;
  }
}

/** A window starting before the horizon: its raw events are gone, so nothing can be recomputed from them. */
export class BeforeRetentionError extends Error {
  constructor(
    message: string,
    readonly horizonMs: number,
  ) {
    super(message);
  }
}

export type RetentionOptions = { rawEventsMs: number | null; rawEvents: string; target: RenderTarget };

/**
 * RAW_EVENT_RETENTION. A run records its cutoff first (never lowering it), then reads the replay applies running,
 * then drops: a replay apply records itself running before it checks the horizon (ReplayRunner), so of two that
 * overlap, the apply is refused or the run holds back to its window. Rows before the cutoff are never inserted
 * again: ingest refuses events older than EVENT_RETENTION, which is at most RAW_EVENT_RETENTION.
 */
export class Retention {
  constructor(
    private readonly clients: { jobs: ClickHouseClient; api: ClickHouseClient },
    private readonly opts: RetentionOptions,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  get enabled(): boolean {
    return this.opts.rawEventsMs !== null;
  }

  async horizon(nowMs = Date.now()): Promise<number | null> {
    return horizonOf(await this.recorded(this.clients.api), nowMs, this.opts.rawEventsMs);
  }

  /** Throws BeforeRetentionError when raw events from `startMs` on may no longer all be held. */
  async check(startMs: number, what: string): Promise<void> {
    const horizon = await this.horizon();
    if (horizon === null || startMs >= horizon) return;
    throw new BeforeRetentionError(
      `${what} starts at ${new Date(startMs).toISOString()}, before ${new Date(horizon).toISOString()}, the oldest raw events still held ` +
        `(RAW_EVENT_RETENTION=${this.opts.rawEvents}): older ones are dropped, so nothing can be recomputed from them; their counters stay as counted`,
      horizon,
    );
  }

  async run(nowMs = Date.now()): Promise<RetentionRun> {
    if (this.opts.rawEventsMs === null) throw new Error('RAW_EVENT_RETENTION is off');
    const started = performance.now();
    const { jobs } = this.clients;
    const recorded = await this.recorded(jobs);
    const horizon = horizonOf(recorded, nowMs, this.opts.rawEventsMs)!;
    if (recorded === null || horizon > recorded) await insertHorizon(jobs, [{ cutoff: toClickHouseTime(horizon) }]);
    this.metrics.retentionHorizon.set(horizon / 1000);
    const holding = (await runningReplayRuns(jobs, {}))
      .filter((r) => r.mode === 'apply')
      .map((r) => ({ id: r.id, startMs: windowStart(r.request) }))
      .filter((r) => r.startMs < horizon);
    const cutoff = Math.min(horizon, ...holding.map((r) => r.startMs));
    if (holding.length > 0) {
      this.log.warn({ replays: holding.map((r) => r.id), cutoff: new Date(cutoff).toISOString() }, 'running replay applies hold raw events back');
    }
    const tables: TableRun[] = [];
    for (const table of rawTables) tables.push(await this.dropBefore(table, cutoff));
    this.metrics.retentionLastRun.set(Date.now() / 1000);
    const run: RetentionRun = {
      horizon: new Date(horizon).toISOString(),
      cutoff: new Date(cutoff).toISOString(),
      heldBackBy: holding.map((r) => r.id),
      tables,
      durationMs: Math.round(performance.now() - started),
    };
    if (tables.some((t) => t.rowsDropped + t.rowsDeleted > 0 || t.partitionsDropped.length > 0)) this.log.info(run, 'raw events dropped');
    return run;
  }

  private async dropBefore(table: RawTable, cutoffMs: number): Promise<TableRun> {
    const { jobs } = this.clients;
    const { target } = this.opts;
    const cutoff = toClickHouseTime(cutoffMs);
    // Counted through the plain table (on a cluster: Distributed, every shard); dropped and deleted per shard.
    const local = target.cluster ? `${table}_local` : table;
    const plan = planTable(
      cutoffMs,
      await rowsBefore(jobs, { table, cutoff }),
      (await localPartitions(jobs, { table: local })).map((p) => p.partitionId),
    );
    for (const p of plan.drop) await dropPartition(jobs, { table: local, partition: p.id }, target);
    if (plan.deleteRows > 0) await deleteBefore(jobs, { table: local, cutoff }, target);
    const rowsDropped = plan.drop.reduce((n, p) => n + p.rows, 0);
    this.metrics.retentionPartitions.inc({ table }, plan.drop.length);
    this.metrics.retentionRows.inc({ table, how: 'partition' }, rowsDropped);
    this.metrics.retentionRows.inc({ table, how: 'delete' }, plan.deleteRows);
    return { table, partitionsDropped: plan.drop.map((p) => p.id), rowsDropped, rowsDeleted: plan.deleteRows };
  }

  private async recorded(client: ClickHouseClient): Promise<number | null> {
    const [row] = await recordedHorizon(client, {});
    return row ? row.cutoffMs : null;
  }
}
