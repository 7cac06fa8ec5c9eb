import { randomBytes } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import { fromScaled, toScaled } from '../counters/decimal.js';
import type { IngestWriter } from '../ingest/writer.js';
import { toClickHouseTime } from '../storage/time.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import {
  dropCells,
  getReplayRun,
  insertReplayRun,
  knownMetrics,
  listReplayRuns,
  markReplayed,
  replayItems,
  runningReplayRuns,
  stageCells,
  writeCorrections,
  type DiffItem,
  type ReplayRunRow,
} from '../storage/queries/replay.js';
import type { Before } from '../storage/queries/define.js';
import { nextVersion } from '../storage/version.js';
import { chunks, type ReplayWindow } from './window.js';
import { BeforeRetentionError } from '../lifecycle/retention.js';
import { meterReplayItems as readMeterReplayItems, writeMeterCorrections, type MeterReplayItem } from '../storage/queries/meters.js';

export type ReplayMode = 'dry-run' | 'apply';
export type ReplayRequest = {
  tenantId: string;
  metrics: string[];
  customerRefs: string[];
  since: string;
  until: string;
  mode: ReplayMode;
};

export type ReplayItem = {
  metric: string;
  customerRef: string;
  period: string;
  /** Local total of the period (counters + approved usage adjustments) before and after the replay. */
  before: string;
  after: string;
  delta: string;
  eventsDelta: number;
  eventsScanned: number;
  lateEvents: number;
  lateQuantity: string;
  duplicateEvents: number;
  /** Whole units the next push sends because of this replay: floor(after) - floor(before). */
  stripeDelta: number;
};

export type ReplayResult = {
  items: ReplayItem[];
  /**
   * Meters whose value is not a sum (unique_count, max, latest): their period value before and after. `items` reports
   * every metric's quantities and events; for these meters their before/after are sums of quantities, not values.
   */
  meterItems: MeterReplayItem[];
  summary: { items: number; changed: number; eventsScanned: number; lateEvents: number; duplicateEvents: number; delta: string; stripeDelta: number };
  correctionsWritten: number;
};

export type ReplayRun = {
  id: string;
  tenantId: string;
  mode: ReplayMode;
  status: 'running' | 'succeeded' | 'failed' | 'interrupted';
  progress: number;
  request: ReplayRequest & { window: Omit<ReplayWindow, 'startMs' | 'endMs' | 'widenedMs'> & { widenedSeconds: { since: number; until: number } } };
  result: ReplayResult | null;
  error: string | null;
  createdBy: string;
  startedAt: string;
  finishedAt: string | null;
};

/** A run as lists show it: its request's metrics, effective window and customer count (0: all); its result's summary. */
export type ListedReplayRun = Pick<ReplayRun, 'id' | 'tenantId' | 'mode' | 'status' | 'progress' | 'error' | 'createdBy' | 'startedAt' | 'finishedAt'> & {
  metrics: string[];
  customers: number;
  window: { since: string; until: string };
  summary: ReplayResult['summary'] | null;
  correctionsWritten: number;
};

export type ReplayRunFilter = {
  /** '' for every tenant's. */
  tenantId: string;
  status?: ReplayRun['status'] | undefined;
  mode?: ReplayMode | undefined;
  before?: Before | undefined;
  limit: number;
};

const fromRow = (r: ReplayRunRow): ReplayRun => ({
  id: r.id,
  tenantId: r.tenantId,
  mode: r.mode,
  status: r.status,
  progress: r.progress,
  request: JSON.parse(r.request) as ReplayRun['request'],
  result: r.result ? (JSON.parse(r.result) as ReplayResult) : null,
  error: r.error || null,
  createdBy: r.createdBy,
  startedAt: r.startedAt,
  finishedAt: r.finishedAt || null,
});

const windowOf = (replayId: string, req: ReplayRequest, startMs: number, endMs: number) => ({
  replayId,
  tenantId: req.tenantId,
  metrics: req.metrics,
  customerRefs: req.customerRefs,
  start: toClickHouseTime(startMs),
  end: toClickHouseTime(endMs),
});

export class ReplayConflictError extends Error {
  constructor(readonly runningId: string) {
    super(`replay ${runningId} is applying for this tenant; wait for it (GET /v1/replay/${runningId}) and retry`);
  }
}

export type ReplayOptions = { chunkMs: number
  /** Whether any of the metrics (all: []) has a meter definition; without one a window has no meter states to replay. */
  hasMeters?: (tenantId: string, metrics: string[]) => Promise<boolean>;
  /** Throws BeforeRetentionError when raw events from `startMs` on may be gone (Retention.check). */
  retained?: (startMs: number) => Promise<void>;
};

/** A scaled decimal's whole units, rounded down as Stripe is sent them (for items found in several chunks). */
const floorUnits = (v: bigint) => Number(v >= 0n ? v / 1_000_000n : -((-v + 999_999n) / 1_000_000n));

/**
 * Re-aggregation: counters of a window are recomputed from the stored events (one row per idempotency key, late
 * events stored beyond the lateness window included) and the difference is written as counter corrections. Apply
 * holds the tenant's ingest (IngestWriter.exclusive) while it diffs and writes each chunk, so events arriving
 * meanwhile are either in the diff or counted after it, never both; running it twice changes nothing the second
 * time. Applies are serialised per tenant. `client` runs the diffs and corrections; `records` writes and reads the
 * run rows (replay_runs) and the late events a replay counted (replayed_events), so recording never waits behind a
 * diff.
 */
export class ReplayRunner {
  private applying = new Map<string, string>();
  /** Finished runs whose last row is still being written: GET /v1/replay/:id answers from here meanwhile. */
  private unrecorded = new Map<string, ReplayRun>();
  private recording: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly client: ClickHouseClient,
    private readonly records: ClickHouseClient,
    private readonly writer: IngestWriter,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly opts: ReplayOptions,
  ) {}

  async knownMetrics(tenantId: string): Promise<Set<string>> {
    return new Set((await knownMetrics(this.records, { tenantId })).map((r) => r.metric));
  }

  /** Records the run and starts it; `done` settles when it finished (the run row has the outcome either way). */
  async start(req: ReplayRequest, window: ReplayWindow, createdBy: string): Promise<{ run: ReplayRun; done: Promise<ReplayRun> }> {
    const running = this.applying.get(req.tenantId);
    if (req.mode === 'apply' && running) throw new ReplayConflictError(running);
    const run: ReplayRun = {
      id: `rpl_${randomBytes(8).toString('hex')}`,
      tenantId: req.tenantId,
      mode: req.mode,
      status: 'running',
      progress: 0,
      request: {
        ...req,
        window: {
          requested: window.requested,
          effective: window.effective,
          widenedSeconds: { since: window.widenedMs.since / 1000, until: window.widenedMs.until / 1000 },
        },
      },
      result: null,
      error: null,
      createdBy,
      startedAt: new Date().toISOString(),
      finishedAt: null,
    };
    // An apply is on record as running before it writes anything (GET /v1/replay/:id, the 409 naming it, and
    // `interrupted` after a crash); a dry-run, one read, when it ends.
    let recorded: Promise<void> = Promise.resolve();
    if (req.mode === 'apply') {
      this.applying.set(req.tenantId, run.id);
      recorded = this.record(run);
      recorded.catch(() => undefined);
    }
    const done = this.execute(run, window, recorded).finally(() => {
      if (req.mode === 'apply') this.applying.delete(req.tenantId);
    });
    return { run, done };
  }

  private async execute(run: ReplayRun, window: ReplayWindow, recorded: Promise<void>): Promise<ReplayRun> {
    const req = run.request;
    try {
      const diffed: DiffItem[] = [];
      const meterItems: MeterReplayItem[] = [];
      // Meter states exist only for metrics with a meter definition: without one, their statements are skipped.
      const metered = (await this.opts.hasMeters?.(req.tenantId, req.metrics)) ?? true;
      const meterReplayItems = async (params: ReturnType<typeof windowOf>) => (metered ? readMeterReplayItems(this.client, params) : []);
      const writeMeterStates = async (params: ReturnType<typeof windowOf>) => {
        if (metered) await writeMeterCorrections(this.client, params);
      };
      let correctionsWritten = 0;
      const retained = () => this.opts.retained?.(window.startMs);
      if (req.mode === 'dry-run') {
        const params = windowOf(run.id, req, window.startMs, window.endMs);
        diffed.push(...(await this.withCells(params, async (items) => items)));
        meterItems.push(...(await meterReplayItems(params)));
        // After the reads: a retention run that dropped rows under them had recorded its cutoff first.
        await retained();
      } else {
        // Nothing is written before the run is on record as running and the retention horizon is checked after that:
        // a retention run that records its cutoff later sees this apply and holds back, one that recorded it earlier
        // is seen here. The first window's reads need not wait (what they read is only written on once cleared).
        let cleared: Promise<void> | undefined;
        const clear = () =>
          (cleared ??= (async () => {
            await recorded;
            await retained();
          })());
        const parts = chunks(window.startMs, window.endMs, this.opts.chunkMs);
        for (const [i, [start, end]] of parts.entries()) {
          const params = windowOf(run.id, req, start, end);
          const written = await this.writer.exclusive(req.tenantId, () =>
            this.withCells(
              params,
              async (chunkItems) => {
                diffed.push(...chunkItems);
                meterItems.push(...(await meterReplayItems(params)));
                await clear();
                const corrections = chunkItems.reduce((n, c) => n + c.corrections, 0);
                if (corrections > 0) await writeCorrections(this.client, params);
                await writeMeterStates(params);
                return corrections;
              },
              // Meanwhile, on the records connection: the window's late events, recorded as counted by this replay.
              async () => {
                await clear();
                await markReplayed(this.records, params);
              },
            ),
          );
          correctionsWritten += written;
          run.progress = (i + 1) / parts.length;
          if (i + 1 < parts.length) await this.record(run);
        }
        if (correctionsWritten > 0) this.metrics.reaggregations.inc({ reason: 'replay' }, correctionsWritten);
      }
      run.result = summarise(diffed, meterItems, correctionsWritten);
      run.status = 'succeeded';
      run.progress = 1;
    } catch (err) {
      run.status = 'failed';
      if (err instanceof BeforeRetentionError) {
        this.log.warn({ replayId: run.id }, err.message);
        run.error = err.message;
      } else {
        this.log.error({ err, replayId: run.id }, 'replay failed');
        run.error = `${(err as Error).message.split('\n')[0]}; nothing is lost: re-run the replay (it is idempotent)`;
      }
    }
    run.finishedAt = new Date().toISOString();
    // The outcome is answered now and written behind: the work is done (an apply's corrections are durable), and
    // its record, up to a megabyte of items, need not delay the answer. Until written, get() answers from memory.
    this.unrecorded.set(run.id, run);
    this.record(run).then(
      () => this.unrecorded.delete(run.id),
      (err: unknown) => this.log.error({ err, replayId: run.id }, 'writing the replay run failed; it stays readable until restart'),
    );
    return run;
  }

  /**
   * The window's cells, computed once into replay_cells, then `use`d (reported; for an apply, also written) and
   * deleted. The report's items come back to the service; the cells themselves never do. `alongside` starts once
   * the cells are staged and runs on another connection while they are used (it must not read what `use` writes).
   * For an apply that is recording the late events counted: it reads events and replayed_events, which the cells
   * already took their late flags from. Both writes are idempotent: if either fails, the run fails and re-running
   * it finishes the other.
   */
  private async withCells<T>(
    params: ReturnType<typeof windowOf>,
    use: (items: DiffItem[]) => Promise<T>,
    alongside?: () => Promise<void>,
  ): Promise<T> {
    let side: Promise<void> | undefined;
    try {
      await stageCells(this.client, params);
      side = alongside?.();
      side?.catch(() => undefined);
      const out = await use(await replayItems(this.client, params));
      await side;
      return out;
    } finally {
      // Never return (and let the caller release the tenant's ingest) with a write still running.
      await side?.catch(() => undefined);
      // A failure here must not hide the replay's own outcome; the rows only take memory until a restart.
      await dropCells(this.client, { replayId: params.replayId }).catch((err: unknown) => this.log.warn({ err, replayId: params.replayId }, 'deleting the replay cells failed'));
    }
  }

  async get(tenantId: string | null, id: string): Promise<ReplayRun | undefined> {
    const pending = this.unrecorded.get(id);
    if (pending) return tenantId === null || pending.tenantId === tenantId ? pending : undefined;
    const [row] = await getReplayRun(this.records, { id, tenantId: tenantId ?? '' });
    return row ? fromRow(row) : undefined;
  }

  /** Runs newest first. Those finished before the call are on record first: a run just answered is in the list. */
  async list(f: ReplayRunFilter): Promise<ListedReplayRun[]> {
    await this.flush();
    const rows = await listReplayRuns(this.records, {
      tenantId: f.tenantId,
      status: f.status ?? '',
      mode: f.mode ?? '',
      beforeSecond: f.before?.second ?? 0,
      beforeId: f.before?.id ?? '',
      limit: f.limit,
    });
    return rows.map(({ since, until, summary, error, finishedAt, ...r }) => ({
      ...r,
      window: { since, until },
      summary: summary ? (JSON.parse(summary) as ReplayResult['summary']) : null,
      error: error || null,
      finishedAt: finishedAt || null,
    }));
  }

  /** Runs left `running` by a process that stopped: their writes are idempotent, so re-running them is safe. */
  async markInterrupted(): Promise<number> {
    const runs = (await runningReplayRuns(this.records, {})).map(fromRow);
    for (const run of runs) {
      const error = 'the process stopped during this replay; re-run it (idempotent)';
      await this.record({ ...run, status: 'interrupted', error, finishedAt: new Date().toISOString() });
    }
    return runs.length;
  }

  /** Waits for the run rows still being written (at shutdown). */
  async flush(): Promise<void> {
    await this.recording.catch(() => undefined);
  }

  /** Writes a row of the run as it is now; rows are written in call order, so the newest version is the last. */
  private record(run: ReplayRun): Promise<void> {
    const row = {
      id: run.id,
      tenantId: run.tenantId,
      mode: run.mode,
      request: JSON.stringify(run.request),
      status: run.status,
      progress: run.progress,
      result: run.result ? JSON.stringify(run.result) : '',
      error: run.error ?? '',
      createdBy: run.createdBy,
      startedAt: toClickHouseTime(run.startedAt),
      finishedAt: run.finishedAt ? toClickHouseTime(run.finishedAt) : null,
      version: nextVersion(),
    };
    const write = this.recording.catch(() => undefined).then(() => insertReplayRun(this.records, [row]));
    this.recording = write;
    return write;
  }
}

/**
 * Diffed items -> the run's result. An apply over several chunks can find an item in more than one: its `before`
 * is the first chunk's, the deltas add up, and `after` and the Stripe delta follow from them.
 */
export function summarise(diffed: DiffItem[], meterDiffed: MeterReplayItem[], correctionsWritten: number): ReplayResult {
  // Across chunks: the first chunk's before, the last chunk's after (each chunk merged its events into the states).
  const meterItems = new Map<string, MeterReplayItem>();
  for (const m of meterDiffed) {
    const k = `${m.metric}\u0000${m.customerRef}\u0000${m.period}`;
    const seen = meterItems.get(k);
    meterItems.set(k, seen ? { ...seen, after: m.after } : m);
  }
  const byItem = new Map<string, ReplayItem>();
  for (const { corrections: _, ...c } of diffed) {
    const k = `${c.metric}\u0000${c.customerRef}\u0000${c.period}`;
    const seen = byItem.get(k);
    if (!seen) {
      byItem.set(k, c);
      continue;
    }
    const before = toScaled(seen.before);
    const delta = toScaled(seen.delta) + toScaled(c.delta);
    const after = before + delta;
    byItem.set(k, {
      ...seen,
      after: fromScaled(after),
      delta: fromScaled(delta),
      eventsDelta: seen.eventsDelta + c.eventsDelta,
      eventsScanned: seen.eventsScanned + c.eventsScanned,
      lateEvents: seen.lateEvents + c.lateEvents,
      lateQuantity: fromScaled(toScaled(seen.lateQuantity) + toScaled(c.lateQuantity)),
      duplicateEvents: seen.duplicateEvents + c.duplicateEvents,
      stripeDelta: floorUnits(after) - floorUnits(before),
    });
  }
  const items = [...byItem.values()];
  let delta = 0n;
  const summary = { items: items.length, changed: 0, eventsScanned: 0, lateEvents: 0, duplicateEvents: 0, delta: '0', stripeDelta: 0 };
  for (const i of items) {
    if (i.delta !== '0' || i.eventsDelta !== 0) {
      summary.changed++;
      delta += toScaled(i.delta);
    }
    summary.eventsScanned += i.eventsScanned;
    summary.lateEvents += i.lateEvents;
    summary.duplicateEvents += i.duplicateEvents;
    summary.stripeDelta += i.stripeDelta;
  }
  summary.delta = fromScaled(delta);
  return { items, meterItems: [...meterItems.values()], summary, correctionsWritten };
}
