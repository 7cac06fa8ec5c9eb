import { randomBytes } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import { z } from 'zod';
import { fromScaled, toScaled } from '../counters/decimal.js';
import type { IngestWriter } from '../ingest/writer.js';
import { toClickHouseTime } from '../storage/time.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import { loadSql } from '../storage/sql.js';
import { nextVersion } from '../storage/version.js';
import { chunks, type ReplayWindow } from './window.js';

export type ReplayMode = 'dry-run' | 'apply';
export type ReplayRequest = {
  tenantId: string;
  metrics: string[];
  customerRefs: string[];
  since: string;
  until: string;
  mode: ReplayMode;
};

const int = z.union([z.number(), z.string()]).transform(Number);
/** One (metric, customer, period) of a diffed window, with the counter corrections its hours need. */
export const diffItem = z.object({
  metric: z.string(),
  customerRef: z.string(),
  period: z.string(),
  beforeQuantity: z.string(),
  beforeEvents: int,
  afterQuantity: z.string(),
  afterEvents: int,
  lateEvents: int,
  lateQuantity: z.string(),
  eventsScanned: int,
  duplicateEvents: int,
  corrections: z.array(z.tuple([z.string(), z.string(), int])),
});
type DiffItem = z.infer<typeof diffItem>;

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

const runRow = z.object({
  id: z.string(),
  tenant_id: z.string(),
  mode: z.enum(['dry-run', 'apply']),
  request: z.string(),
  status: z.enum(['running', 'succeeded', 'failed', 'interrupted']),
  progress: z.number(),
  result: z.string(),
  error: z.string(),
  created_by: z.string(),
  started_at: z.string(),
  finished_at: z.string(),
});

const fromRow = (r: z.infer<typeof runRow>): ReplayRun => ({
  id: r.id,
  tenantId: r.tenant_id,
  mode: r.mode,
  status: r.status,
  progress: r.progress,
  request: JSON.parse(r.request) as ReplayRun['request'],
  result: r.result ? (JSON.parse(r.result) as ReplayResult) : null,
  error: r.error || null,
  createdBy: r.created_by,
  startedAt: r.started_at,
  finishedAt: r.finished_at || null,
});

/** The parameters every replay statement filters by: tenant, metrics, customers and the hour-aligned window. */
const windowParams = (req: ReplayRequest, startMs: number, endMs: number) => ({
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

export type ReplayOptions = { chunkMs: number };

/**
 * Re-aggregation: counters of a window are recomputed from `events FINAL` (flagged late events included) and the
 * difference is written as counter corrections. Apply holds the tenant's ingest (IngestWriter.exclusive) while it
 * diffs and writes each chunk, so events arriving meanwhile are either in the diff or counted after it, never
 * both; running it twice changes nothing the second time. Applies are serialised per tenant.
 */
export class ReplayRunner {
  private applying = new Map<string, string>();

  constructor(
    private readonly client: ClickHouseClient,
    private readonly writer: IngestWriter,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly opts: ReplayOptions,
  ) {}

  async knownMetrics(tenantId: string): Promise<Set<string>> {
    const rs = await this.client.query({ query: loadSql('replay/known_metrics'), query_params: { tenantId }, format: 'JSONEachRow' });
    return new Set((await rs.json<{ metric: string }>()).map((r) => r.metric));
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
    // An apply is on record while it runs (GET /v1/replay/:id, the 409 naming it); a dry-run, one read, when it ends.
    if (req.mode === 'apply') {
      this.applying.set(req.tenantId, run.id);
      try {
        await this.save(run);
      } catch (err) {
        this.applying.delete(req.tenantId);
        throw err;
      }
    }
    const done = this.execute(run, window).finally(() => {
      if (req.mode === 'apply') this.applying.delete(req.tenantId);
    });
    return { run, done };
  }

  private async execute(run: ReplayRun, window: ReplayWindow): Promise<ReplayRun> {
    const req = run.request;
    try {
      const diffed: DiffItem[] = [];
      let correctionsWritten = 0;
      if (req.mode === 'dry-run') {
        diffed.push(...(await this.diff(req, window.startMs, window.endMs)));
      } else {
        const parts = chunks(window.startMs, window.endMs, this.opts.chunkMs);
        for (const [i, [start, end]] of parts.entries()) {
          const written = await this.writer.exclusive(req.tenantId, async () => {
            const chunkItems = await this.diff(req, start, end);
            diffed.push(...chunkItems);
            return this.correct(run.id, req, chunkItems, start, end);
          });
          correctionsWritten += written;
          run.progress = (i + 1) / parts.length;
          if (i + 1 < parts.length) await this.save(run);
        }
        if (correctionsWritten > 0) this.metrics.reaggregations.inc({ reason: 'replay' }, correctionsWritten);
      }
      run.result = await this.summarise(req, diffed, correctionsWritten);
      run.status = 'succeeded';
      run.progress = 1;
    } catch (err) {
      this.log.error({ err, replayId: run.id }, 'replay failed');
      run.status = 'failed';
      run.error = `${(err as Error).message.split('\n')[0]}; nothing is lost: re-run the replay (it is idempotent)`;
    }
    run.finishedAt = new Date().toISOString();
    await this.save(run);
    return run;
  }

  private async diff(req: ReplayRequest, startMs: number, endMs: number): Promise<DiffItem[]> {
    const rs = await this.client.query({
      query: loadSql('replay/replay_diff'),
      query_params: windowParams(req, startMs, endMs),
      format: 'JSONEachRow',
    });
    return z.array(diffItem).parse(await rs.json());
  }

  /** Writes the corrections of one chunk (both counters through one INSERT) and marks its late events counted. */
  private async correct(replayId: string, req: ReplayRequest, items: DiffItem[], startMs: number, endMs: number): Promise<number> {
    const rows = items.flatMap((c) =>
      c.corrections.map(([hour, quantity, events]) => ({
        replay_id: replayId,
        tenant_id: req.tenantId,
        metric: c.metric,
        customer_ref: c.customerRef,
        hour: hour.replace('T', ' ').replace('Z', ''),
        period: c.period,
        quantity,
        events,
      })),
    );
    if (rows.length > 0) await this.client.insert({ table: 'counter_corrections', values: rows, format: 'JSONEachRow' });
    if (items.some((c) => c.lateEvents > 0)) {
      await this.client.command({
        query: loadSql('replay/mark_replayed'),
        query_params: windowParams(req, startMs, endMs),
      });
    }
    return rows.length;
  }

  /** Diffed items (one per chunk they appear in) -> one per (metric, customer, period), with period totals and the Stripe effect. */
  private async summarise(req: ReplayRequest, diffed: DiffItem[], correctionsWritten: number): Promise<ReplayResult> {
    type Acc = { metric: string; customerRef: string; period: string; dq: bigint; dn: number; scanned: number; late: number; lateQ: bigint; dup: number };
    const byItem = new Map<string, Acc>();
    for (const c of diffed) {
      const k = `${c.metric}\u0000${c.customerRef}\u0000${c.period}`;
      let a = byItem.get(k);
      if (!a) byItem.set(k, (a = { metric: c.metric, customerRef: c.customerRef, period: c.period, dq: 0n, dn: 0, scanned: 0, late: 0, lateQ: 0n, dup: 0 }));
      a.dq += toScaled(c.afterQuantity) - toScaled(c.beforeQuantity);
      a.dn += c.afterEvents - c.beforeEvents;
      a.scanned += c.eventsScanned;
      a.late += c.lateEvents;
      a.lateQ += toScaled(c.lateQuantity);
      a.dup += c.duplicateEvents;
    }
    const periods = [...new Set([...byItem.values()].map((a) => a.period))];
    const totals = new Map<string, bigint>();
    if (periods.length > 0) {
      const rs = await this.client.query({
        query: loadSql('replay/local_totals'),
        query_params: { tenantId: req.tenantId, metrics: req.metrics, periods },
        format: 'JSONEachRow',
      });
      for (const t of await rs.json<{ metric: string; customerRef: string; period: string; total: string }>()) {
        totals.set(`${t.metric}\u0000${t.customerRef}\u0000${t.period}`, toScaled(t.total));
      }
    }
    const million = 1_000_000n;
    const floorUnits = (v: bigint) => Number(v >= 0n ? v / million : -((-v + million - 1n) / million));
    const items = [...byItem.entries()].map(([k, a]): ReplayItem => {
      const now = totals.get(k) ?? 0n;
      // After an apply the totals already include the correction.
      const before = req.mode === 'apply' ? now - a.dq : now;
      const after = before + a.dq;
      return {
        metric: a.metric,
        customerRef: a.customerRef,
        period: a.period,
        before: fromScaled(before),
        after: fromScaled(after),
        delta: fromScaled(a.dq),
        eventsDelta: a.dn,
        eventsScanned: a.scanned,
        lateEvents: a.late,
        lateQuantity: fromScaled(a.lateQ),
        duplicateEvents: a.dup,
        stripeDelta: floorUnits(after) - floorUnits(before),
      };
    });
    return {
      items,
      summary: {
        items: items.length,
        changed: items.filter((i) => i.delta !== '0' || i.eventsDelta !== 0).length,
        eventsScanned: items.reduce((n, i) => n + i.eventsScanned, 0),
        lateEvents: items.reduce((n, i) => n + i.lateEvents, 0),
        duplicateEvents: items.reduce((n, i) => n + i.duplicateEvents, 0),
        delta: fromScaled(items.reduce((n, i) => n + toScaled(i.delta), 0n)),
        stripeDelta: items.reduce((n, i) => n + i.stripeDelta, 0),
      },
      correctionsWritten,
    };
  }

  async get(tenantId: string | null, id: string): Promise<ReplayRun | undefined> {
    const rs = await this.client.query({
      query: loadSql('replay/get_run'),
      query_params: { id, tenantId: tenantId ?? '' },
      format: 'JSONEachRow',
    });
    const [row] = z.array(runRow).parse(await rs.json());
    return row ? fromRow(row) : undefined;
  }

  /** Runs left `running` by a process that stopped: their writes are idempotent, so re-running them is safe. */
  async markInterrupted(): Promise<number> {
    const rs = await this.client.query({ query: loadSql('replay/running_runs'), format: 'JSONEachRow' });
    const runs = z.array(runRow).parse(await rs.json()).map(fromRow);
    for (const run of runs) {
      await this.save({ ...run, status: 'interrupted', error: 'the process stopped during this replay; re-run it (idempotent)', finishedAt: new Date().toISOString() });
    }
    return runs.length;
  }

  private async save(run: ReplayRun): Promise<void> {
    await this.client.insert({
      table: 'replay_runs',
      values: [
        {
          id: run.id,
          tenant_id: run.tenantId,
          mode: run.mode,
          request: JSON.stringify(run.request),
          status: run.status,
          progress: run.progress,
          result: run.result ? JSON.stringify(run.result) : '',
          error: run.error ?? '',
          created_by: run.createdBy,
          started_at: toClickHouseTime(run.startedAt),
          finished_at: run.finishedAt ? toClickHouseTime(run.finishedAt) : null,
          version: nextVersion(),
        },
      ],
      format: 'JSONEachRow',
    });
  }
}
