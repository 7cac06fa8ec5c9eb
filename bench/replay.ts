/**
 * Replay and reconciliation benchmark (not a timed test).
 *
 *   npm run bench:replay
 *   BENCH_EVENTS=200000 BENCH_RECON_CUSTOMERS=10000 npm run bench:replay   # quick run
 *
 * Part A — tenant 'bench': BENCH_EVENTS (1,000,000) events over the last 30 days (5,000 customers, metric 'calls'),
 *   inserted raw in 100,000-row blocks (the counters' materialized views fill as with ingest), then 10,000 late events
 *   spread over the last 24 h stored flagged beyond the lateness window (stored, not counted). ReplayRunner (built as
 *   src/service.ts builds it, chunk P1D) over resolveWindow('-PT24H', 'now'): dry-run (warm-up + median), apply
 *   (must count the 10,000), a second apply (must write nothing), a dry-run after the apply; then the same apply on
 *   more tenants, each a copy of the 1M events with its own 10,000 late events (BENCH_APPLY_ROUNDS in all). The apply
 *   figure is the median over them (the machine's speed varies from run to run). Target: dry-run and apply <= 200 ms
 *   each (runbook bar 2 s).
 * Part B — tenant 'bench24': BENCH_EVENTS events all within the last 24 h; dry-run over -PT24H. Target <= 2 s.
 *   Baseline for A and B: the bare hourly aggregation of the window's events (no FINAL, no counters), fetched the
 *   same way (JSONEachRow through the client).
 *   Where the time goes: the runner's client is wrapped (bench/replay-probe.ts), so every figure is split into its
 *   statements (query, json(), inserts) and the time outside the client (zod, JS). Also the diff SQL engine-only,
 *   per CTE, JSON and zod on their own, and the SELECT of mark_replayed.
 *   What-ifs (not what src runs, labelled as such): the diff without the time projections (migration 0014), and
 *   mark_replayed with nothing to mark.
 * Part C — tenant 'recon': 100,000 items (50,000 customers x current and previous period) across every table the
 *   comparison reads; sql/reconcile/compare.sql timed through Reconciler.compare itself (warm-up + median of 5), against the
 *   bare aggregation of the same counters. Status counts are checked against the ones the seed computes with the
 *   policy. Also sql/reconcile/items.sql. Target: <= 1 s. Split: statements (probe), engine only, per CTE; what-ifs
 *   on the transfer format (JSONEachRow text only, JSONCompactEachRow).
 * Part D — Stripe reads measured apart: event summaries of 1,000 items through the real stripe client against the
 *   in-process sandbox, 16 concurrent and raw, then through StripeLimiter at the sandbox's default rate (200/s).
 *
 * Environment: BENCH_EVENTS (1000000), BENCH_CUSTOMERS (5000), BENCH_LATE (10000), BENCH_APPLY_ROUNDS (5),
 * BENCH_RUNS (5), BENCH_RECON_CUSTOMERS (50000), BENCH_STRIPE_READS (1000; 0 skips part D), BENCH_SKIP_B=1,
 * BENCH_KEEP=1 keeps the data directory.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClickHouseClient } from '@clickhouse/client';
import { z } from 'zod';
import type { AdjustmentDeps } from '../src/adjustments/lifecycle.js';
import { loadConfig } from '../src/config.js';
import { toClickHouseTime } from '../src/storage/time.js';
import { IngestWriter } from '../src/ingest/writer.js';
import { createLogger } from '../src/log.js';
import { createMetrics } from '../src/ops/metrics.js';
import { Reconciler } from '../src/reconcile/reconcile.js';
import { MeterStore } from '../src/meters/definitions.js';
import { Retention } from '../src/lifecycle/retention.js';
import { ReplayRunner, type ReplayMode, type ReplayRun } from '../src/replay/replay.js';
import { diffItem } from '../src/storage/queries/replay.js';
import { resolveWindow, type ReplayWindow } from '../src/replay/window.js';
import { openStorage, type Storage } from '../src/storage/client.js';
import { migrate } from '../src/storage/migrations.js';
import { migrationIncludesDir } from '../src/storage/paths.js';
import { loadSql } from '../src/storage/sql.js';
import { createStripeClient } from '../src/stripe/client.js';
import { meterEventTimestamp, summaryWindow, type StripeGateway } from '../src/stripe/gateway.js';
import { StripeLimiter } from '../src/stripe/limiter.js';
import type { TenantContext } from '../src/tenants/context.js';
import { sandboxKey } from '../src/stripe/runtime.js';
import { startStripeSandbox } from '../src/stripe/sandbox/server.js';
import { periodBounds } from '../src/time/period.js';
import { Probe } from './replay-probe.js';
import { eventRows, insertEvents, seedRecon } from './replay-seed.js';
import { insertRows, utcPeriod } from './lib/seed.js';

import { env, log, fmt, ms, ratio, x, median, section, line, check, checksLine, writeResults, printReport, pool, jsonRows, timeIt as timeRuns, settleMerges as settleAll, type Timing, nullFormat } from './lib/report.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const totalEvents = env('BENCH_EVENTS', 1_000_000);
const customers = env('BENCH_CUSTOMERS', 5000);
const lateEvents = env('BENCH_LATE', 10_000);
const applyRounds = Math.max(1, env('BENCH_APPLY_ROUNDS', 5));
const runs = Math.max(1, env('BENCH_RUNS', 5));

/** Median of BENCH_RUNS timed calls after a warm-up. */
const timeIt = (fn: () => Promise<number>, n = runs) => timeRuns(fn, n);
const settleMerges = (client: ClickHouseClient) => settleAll(client, 60_000);
const reconCustomers = env('BENCH_RECON_CUSTOMERS', 50_000);
const stripeReads = env('BENCH_STRIPE_READS', 1000);
const skipB = process.env.BENCH_SKIP_B === '1';
const keep = process.env.BENCH_KEEP === '1';
const targets = { replayWindowMs: 200, runbookMs: 2000, replay24hMs: 2000, reconMs: 1000 };
const chunkMs = 86_400_000;
const metric = 'calls';
const dayMs = 86_400_000;
const hourMs = 3600_000;

const verdict = (v: number, target: number) => (v <= target ? 'PASS' : 'FAIL');

async function partCounts(client: ClickHouseClient, tables: string[]): Promise<Record<string, { parts: number; rows: number }>> {
  const rs = await jsonRows<{ table: string; parts: number; rows: string }>(
    client,
    `SELECT table, toUInt32(count()) AS parts, toString(sum(rows)) AS rows FROM system.parts
     WHERE active AND database = currentDatabase() AND table IN {tables:Array(String)} GROUP BY table ORDER BY table`,
    { tables },
  );
  return Object.fromEntries(rs.map((r) => [r.table, { parts: Number(r.parts), rows: Number(r.rows) }]));
}

/** A WITH query with its final SELECT replaced by `SELECT * FROM <cte>`: what one CTE costs on its own (and all it reads). */
function cteOnly(sql: string, cte: string): string {
  const idx = sql.lastIndexOf('\nSELECT');
  if (idx < 0) throw new Error('no final SELECT found');
  return `${sql.slice(0, idx)}\nSELECT * FROM ${cte}\nSETTINGS join_use_nulls = 0`;
}

// The baseline: the bare hourly aggregation of the window's events (no de-duplication, no counters).
const baselineScanSql = `SELECT metric, customer_ref, toStartOfHour(ts) AS h, sum(quantity) AS q
FROM events
WHERE tenant_id = {tenantId:String} AND ts >= {start:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')}
GROUP BY ALL`;

// ---------------------------------------------------------------------------------------------------------------
// Replay (parts A and B)

type Replay = { runner: ReplayRunner; writer: IngestWriter; probe: Probe };

/** Built as src/service.ts builds it; its client is wrapped by a Probe that records each statement's time. */
function replayRunner(storage: Storage): Replay {
  const metrics = createMetrics();
  const logger = createLogger('warn');
  const probe = new Probe();
  const writer = new IngestWriter(storage.ingest, storage.lookup, { maxRows: 20000, maxWaitMs: 4, latenessWindowMs: 48 * 3600e3 }, metrics, logger);
  // As src/service.ts builds it: meter statements only for metrics with a meter definition.
  const meterStore = new MeterStore(storage.api);
  // The default RAW_EVENT_RETENTION: the horizon is read (and passed) on every run.
  const retention = new Retention({ jobs: storage.jobs, api: probe.wrap(storage.api) }, { rawEventsMs: 400 * 86_400_000, rawEvents: 'P400D', target: {} }, metrics, logger);
  const runner = new ReplayRunner(probe.wrap(storage.replay), probe.wrap(storage.api), writer, metrics, logger, {
    chunkMs,
    hasMeters: (tenantId, metrics) => meterStore.hasAny(tenantId, metrics),
    retained: (startMs) => retention.check(startMs, 'the window'),
  });
  return { runner, writer, probe };
}

type Steps = ReturnType<Probe['summary']>;
const stepsText = (s: Steps) =>
  s.steps.map((q) => `${q.step}${q.count > 1 ? ` x${q.count}` : ''} ${ms(q.ms)}`).join(', ') + `; outside the client (zod, JS, lock) ${ms(s.outsideClientMs)}`;

function window24h(): ReplayWindow {
  const w = resolveWindow('-PT24H', 'now', Date.now());
  if ('error' in w) throw new Error(w.error);
  return w;
}

/** runner.start to `done`, as POST /v1/replay runs it. */
async function timedReplay(r: Replay, tenantId: string, mode: ReplayMode, window: ReplayWindow): Promise<{ ms: number; run: ReplayRun; steps: Steps }> {
  r.probe.reset();
  const t0 = performance.now();
  const { done } = await r.runner.start({ tenantId, metrics: [metric], customerRefs: [], since: '-PT24H', until: 'now', mode }, window, 'bench');
  const run = await done;
  const elapsed = performance.now() - t0;
  if (run.status !== 'succeeded' || !run.result) throw new Error(`replay ${run.id} ${run.status}: ${run.error}`);
  return { ms: elapsed, run, steps: r.probe.summary(elapsed) };
}

async function timedDryRuns(r: Replay, tenantId: string, window: ReplayWindow, n = runs) {
  const first = await timedReplay(r, tenantId, 'dry-run', window);
  const samples: Array<{ ms: number; steps: Steps }> = [];
  for (let i = 0; i < n; i++) samples.push(await timedReplay(r, tenantId, 'dry-run', window));
  const msList = samples.map((q) => q.ms);
  const timing: Timing = { medianMs: median(msList), minMs: Math.min(...msList), maxMs: Math.max(...msList), samplesMs: msList, warmupMs: first.ms, rows: first.run.result!.summary.items };
  // The statements of the sample closest to the median.
  const steps = [...samples].sort((a, b) => Math.abs(a.ms - timing.medianMs) - Math.abs(b.ms - timing.medianMs))[0]!.steps;
  return { timing, run: first.run, steps };
}

const windowParams = (tenantId: string, w: ReplayWindow) => ({ tenantId, start: toClickHouseTime(w.startMs), end: toClickHouseTime(w.endMs) });

async function baselineScan(client: ClickHouseClient, tenantId: string, w: ReplayWindow): Promise<Timing> {
  return timeIt(async () => (await jsonRows(client, baselineScanSql, windowParams(tenantId, w))).length);
}

/** Where a dry-run's time goes: the cells (engine only, per CTE, and without the time projections), the report, JSON, zod. */
async function diffBreakdown(client: ClickHouseClient, tenantId: string, w: ReplayWindow, n = 3) {
  // The view's query, run on its own (its parameters are the statement's).
  const cells = readFileSync(path.join(migrationIncludesDir, 'replay', 'window_cells.sql'), 'utf8').replace(/^[\s\S]*?\nCREATE OR REPLACE VIEW \w+ \{\{on_cluster\}\} AS\n/, '').replace(/;\s*$/, '');
  const params = { ...windowParams(tenantId, w), metrics: [metric], customerRefs: [] as string[], replayId: 'rpl_bench_breakdown' };
  // What-if: the same SQL reading the tables in their own (key) order, as before migration 0014.
  const noProjections = `${cells}\nSETTINGS optimize_use_projections = 0`;
  const engine = await timeIt(() => nullFormat(client, cells, params), n);
  const engineNoProjections = await timeIt(() => nullFormat(client, noProjections, params), n);
  const baselineEngine = await timeIt(() => nullFormat(client, baselineScanSql, params), n);
  const ctes: Record<string, Timing> = { stored: await timeIt(() => nullFormat(client, cteOnly(cells, 'stored'), params), n) };
  ctes['stage_cells (cells into memory)'] = await timeIt(async () => {
    await client.command({ query: loadSql('replay/drop_cells'), query_params: params });
    await client.command({ query: loadSql('replay/stage_cells'), query_params: params });
    return 0;
  }, n);
  const items = loadSql('replay/items');
  ctes['items (the report, from the staged cells)'] = await timeIt(() => nullFormat(client, items, params), n);
  let parsed: unknown[] = [];
  const json = await timeIt(async () => (parsed = await jsonRows(client, items, params)).length, n);
  const zod = await timeIt(async () => z.array(diffItem).parse(parsed).length, n);
  await client.command({ query: loadSql('replay/drop_cells'), query_params: params });
  const markSql = loadSql('replay/mark_replayed').replace(/^[\s\S]*?\nSELECT/, 'SELECT');
  const markSelect = await timeIt(() => nullFormat(client, markSql, params), n);

  return { engine, engineNoProjections, baselineEngine, ctes, json, zod, markReplayedSelect: markSelect, cells: json.rows };
}

function printBreakdown(b: Awaited<ReturnType<typeof diffBreakdown>>) {
  line(
    '  cells (window_cells view query) engine only (FORMAT Null)',
    `${ms(b.engine.medianMs)} (${x(ratio(b.engine.medianMs, b.baselineEngine.medianMs))} the bare scan's ${ms(b.baselineEngine.medianMs)}); ` +
      `without the time projections ${ms(b.engineNoProjections.medianMs)}`,
  );
  line('  per CTE (engine only, incl. what it reads)', Object.entries(b.ctes).map(([k, t]) => `${k} ${ms(t.medianMs)}`).join(', '));
  line('  report (items) JSON fetch / zod parse', `${ms(b.json.medianMs)} (${fmt(b.cells)} items) / ${ms(b.zod.medianMs)}`);
  line('  mark_replayed SELECT', ms(b.markReplayedSelect.medianMs));
}

/** Counters agree with the stored events (FINAL, flag != 1), in the window (hourly) and over the tenant (period). */
async function countersMatch(client: ClickHouseClient, tenantId: string, w: ReplayWindow): Promise<{ ok: boolean; detail: string }> {
  const [r] = await jsonRows<Record<string, string>>(
    client,
    `SELECT
      (SELECT toString(sum(quantity)) FROM events FINAL WHERE tenant_id = {tenantId:String} AND (beyond_window = 0 OR idempotency_key IN (SELECT idempotency_key FROM replayed_events WHERE tenant_id = {tenantId:String}))
         AND ts >= {start:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')}) AS storedWindow,
      (SELECT toString(count()) FROM events FINAL WHERE tenant_id = {tenantId:String} AND (beyond_window = 0 OR idempotency_key IN (SELECT idempotency_key FROM replayed_events WHERE tenant_id = {tenantId:String}))
         AND ts >= {start:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')}) AS storedWindowEvents,
      (SELECT toString(sum(quantity)) FROM usage_hourly_counters WHERE tenant_id = {tenantId:String}
         AND hour >= {start:DateTime64(3, 'UTC')} AND hour < {end:DateTime64(3, 'UTC')}) AS hourlyWindow,
      (SELECT toString(sum(events)) FROM usage_hourly_counters WHERE tenant_id = {tenantId:String}
         AND hour >= {start:DateTime64(3, 'UTC')} AND hour < {end:DateTime64(3, 'UTC')}) AS hourlyWindowEvents,
      (SELECT toString(sum(quantity)) FROM events FINAL WHERE tenant_id = {tenantId:String} AND (beyond_window = 0 OR idempotency_key IN (SELECT idempotency_key FROM replayed_events WHERE tenant_id = {tenantId:String}))) AS storedAll,
      (SELECT toString(sum(quantity)) FROM usage_period_counters WHERE tenant_id = {tenantId:String}) AS periodAll`,
    windowParams(tenantId, w),
  );
  const ok = !!r && r.storedWindow === r.hourlyWindow && r.storedWindowEvents === r.hourlyWindowEvents && r.storedAll === r.periodAll;
  return { ok, detail: JSON.stringify(r) };
}

async function eventsInWindow(client: ClickHouseClient, tenantId: string, w: ReplayWindow): Promise<number> {
  const [r] = await jsonRows<{ n: string }>(
    client,
    `SELECT toString(count()) AS n FROM events WHERE tenant_id = {tenantId:String} AND ts >= {start:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')}`,
    windowParams(tenantId, w),
  );
  return Number(r?.n ?? 0);
}

async function partA(storage: Storage, r: Replay) {
  const client = storage.jobs;
  const tenantId = 'bench';
  const nowMs = Date.now();
  log(`part A: seeding ${fmt(totalEvents)} events over 30 days for '${tenantId}' (${fmt(customers)} customers)`);
  let t0 = performance.now();
  await insertEvents(client, eventRows({ tenantId, metric, customers, count: totalEvents, fromMs: nowMs - 30 * dayMs, toMs: nowMs, seed: 0xa11ce, beyondWindow: 0 }));
  const seedMs = performance.now() - t0;
  // Late events: inside the last 24 h (23 h back, so the hour-widened window resolved later still holds them all).
  const lateSpec = (round: number) => ({ tenantId, metric, customers, count: lateEvents, fromMs: Date.now() - 23 * hourMs, toMs: Date.now() - 60_000, seed: 0x1a7e + round, beyondWindow: 1 as const });
  t0 = performance.now();
  await insertEvents(client, eventRows(lateSpec(0)));
  const lateSeedMs = performance.now() - t0;
  const mergeWaitMs = await settleMerges(client);
  const parts = await partCounts(client, ['events', 'usage_hourly_counters', 'usage_period_counters']);
  const w = window24h();
  const inWindow = await eventsInWindow(client, tenantId, w);
  log(`part A: window ${w.effective.since} .. ${w.effective.until}, ${fmt(inWindow)} stored events in it; timing`);

  const baseline = await baselineScan(client, tenantId, w);
  const dry = await timedDryRuns(r, tenantId, w);
  const s = dry.run.result!.summary;
  check('A: dry-run finds every late event', s.lateEvents === lateEvents, `${s.lateEvents}`);
  check('A: dry-run scans every event of the window', s.eventsScanned === inWindow, `${s.eventsScanned} vs ${inWindow}`);
  check('A: dry-run writes nothing', dry.run.result!.correctionsWritten === 0);
  const breakdown = await diffBreakdown(client, tenantId, w);

  const rounds: Array<{
    applyMs: number;
    secondApplyMs: number;
    lateEvents: number;
    correctionsWritten: number;
    changedItems: number;
    secondCorrections: number;
    dryAfterMs: number;
    applySteps: Steps;
    secondApplySteps: Steps;
  }> = [];
  let dryAfter: Timing | undefined;
  let markEmpty: { src: Timing } | undefined;
  for (let round = 0; round < applyRounds; round++) {
    // Every round is the same scenario on its own tenant: a copy of the 1M events and 10,000 new late events. (On one
    // tenant, each round would add 10,000 events to the window and diff a larger one than the round before.)
    const roundTenant = round === 0 ? tenantId : `${tenantId}_r${round + 1}`;
    if (round > 0) {
      await client.command({
        query: `INSERT INTO events (tenant_id, idempotency_key, metric, customer_ref, resource_id, quantity, ts, period, meta, source, payload_hash, beyond_window, ingested_at)
          SELECT {to:String}, idempotency_key, metric, customer_ref, resource_id, quantity, ts, period, meta, source, payload_hash, beyond_window, ingested_at
          FROM events WHERE tenant_id = {from:String} AND beyond_window = 0`,
        query_params: { from: tenantId, to: roundTenant },
      });
      await insertEvents(client, eventRows({ ...lateSpec(round), tenantId: roundTenant }));
      await settleMerges(client);
    }
    const apply = await timedReplay(r, roundTenant, 'apply', w);
    const ar = apply.run.result!;
    check(`A: apply round ${round + 1} counts the ${fmt(lateEvents)} late events`, ar.summary.lateEvents === lateEvents, `${ar.summary.lateEvents}`);
    check(`A: apply round ${round + 1} writes corrections`, ar.correctionsWritten > 0);
    const again = await timedReplay(r, roundTenant, 'apply', w);
    check(`A: second apply of round ${round + 1} writes nothing`, again.run.result!.correctionsWritten === 0 && again.run.result!.summary.lateEvents === 0, JSON.stringify(again.run.result!.summary));
    const match = await countersMatch(client, roundTenant, w);
    check(`A: counters match events FINAL after round ${round + 1}`, match.ok, match.detail);
    let dryAfterMs = NaN;
    if (round === 0) {
      dryAfter = (await timedDryRuns(r, tenantId, w, 3)).timing;
      dryAfterMs = dryAfter.medianMs;
      // Every late event of the window is recorded as replayed: mark_replayed inserts no row, so running it again is
      // harmless and shows what finding the window's unrecorded late events costs by itself.
      const markParams = { ...windowParams(tenantId, w), metrics: [metric], customerRefs: [] as string[], replayId: 'bench' };
      const mark = loadSql('replay/mark_replayed');
      markEmpty = { src: await timeIt(async () => (await client.command({ query: mark, query_params: markParams }), 0), 3) };
    }
    rounds.push({
      applyMs: apply.ms,
      secondApplyMs: again.ms,
      lateEvents: ar.summary.lateEvents,
      correctionsWritten: ar.correctionsWritten,
      changedItems: ar.summary.changed,
      secondCorrections: again.run.result!.correctionsWritten,
      dryAfterMs,
      applySteps: apply.steps,
      secondApplySteps: again.steps,
    });
    log(`part A: round ${round + 1} ('${roundTenant}'): apply ${ms(apply.ms)} (${fmt(ar.correctionsWritten)} corrections), again ${ms(again.ms)}`);
  }

  const r1 = rounds[0]!;
  section(`Part A: replay of the last 24 h, tenant '${tenantId}': ${fmt(totalEvents)} events over 30 days + ${fmt(lateEvents)} late`);
  line(
    'Seeded',
    `${fmt(totalEvents)} events in ${ms(seedMs)} (${fmt(totalEvents / (seedMs / 1000))}/s raw), ${fmt(lateEvents)} late in ${ms(lateSeedMs)}; ` +
      `merges settled after ${ms(mergeWaitMs)}; parts: ${Object.entries(parts).map(([t, p]) => `${t} ${p.parts} (${fmt(p.rows)} rows)`).join(', ')}`,
  );
  line('Window', `${w.effective.since} .. ${w.effective.until}: ${fmt(inWindow)} stored events (${fmt(inWindow - lateEvents)} counted + ${fmt(lateEvents)} late)`);
  line('Baseline: bare hourly scan, JSONEachRow', `${ms(baseline.medianMs)} (${fmt(baseline.rows)} rows; median of ${runs})`);
  line(
    'Dry-run, start to done',
    `${ms(dry.timing.medianMs)} = ${x(ratio(dry.timing.medianMs, baseline.medianMs))} baseline (min ${ms(dry.timing.minMs)}, max ${ms(dry.timing.maxMs)}, first ${ms(dry.timing.warmupMs)}); ` +
      `${fmt(s.items)} items, ${fmt(breakdown.cells)} cells, ${fmt(s.lateEvents)} late; ${verdict(dry.timing.medianMs, targets.replayWindowMs)} (<= ${ms(targets.replayWindowMs)}), runbook bar ${verdict(dry.timing.medianMs, targets.runbookMs)}`,
  );
  line('  statements of a median dry-run', stepsText(dry.steps));
  printBreakdown(breakdown);
  // The figure is the median over the rounds (each the same scenario on its own tenant): one apply is one sample on
  // a machine whose speed varies from run to run.
  const applyMedian = median(rounds.map((q) => q.applyMs));
  line(
    `Apply, start to done (median of ${rounds.length} rounds)`,
    `${ms(applyMedian)} = ${x(ratio(applyMedian, baseline.medianMs))} baseline (round 1 ${ms(r1.applyMs)}); ${fmt(r1.lateEvents)} late events counted, ${fmt(r1.correctionsWritten)} corrections, ` +
      `${fmt(r1.changedItems)} items changed (round 1); ${verdict(applyMedian, targets.replayWindowMs)} (<= ${ms(targets.replayWindowMs)}), runbook bar ${verdict(applyMedian, targets.runbookMs)}`,
  );
  line('  statements of the apply (round 1)', stepsText(r1.applySteps));
  line('Second apply (idempotent, round 1)', `${ms(r1.secondApplyMs)} = ${x(ratio(r1.secondApplyMs, baseline.medianMs))} baseline; ${r1.secondCorrections} corrections written`);
  line('  statements of the second apply', stepsText(r1.secondApplySteps));
  if (markEmpty) {
    line('  mark_replayed with nothing to mark', ms(markEmpty.src.medianMs));
  }
  if (dryAfter) line('Dry-run after the apply', `${ms(dryAfter.medianMs)} = ${x(ratio(dryAfter.medianMs, baseline.medianMs))} baseline (median of 3; its late events now recorded as replayed)`);
  if (rounds.length > 1) {
    line(
      `All ${rounds.length} rounds (each on its own copy of the tenant)`,
      `apply ${rounds.map((q) => ms(q.applyMs)).join(', ')} (median ${ms(median(rounds.map((q) => q.applyMs)))}); ` +
        `second apply ${rounds.map((q) => ms(q.secondApplyMs)).join(', ')}`,
    );
  }
  return {
    tenantId,
    seed: { events: totalEvents, customers, lateEvents, seedMs, lateSeedMs, mergeWaitMs, parts },
    window: { since: w.effective.since, until: w.effective.until, storedEvents: inWindow },
    baseline,
    dryRun: { ...dry.timing, summary: s, ratioToBaseline: ratio(dry.timing.medianMs, baseline.medianMs), pass: dry.timing.medianMs <= targets.replayWindowMs, steps: dry.steps },
    breakdown,
    apply: { medianMs: applyMedian, firstRoundMs: r1.applyMs, ratioToBaseline: ratio(applyMedian, baseline.medianMs), pass: applyMedian <= targets.replayWindowMs },
    secondApply: { ms: r1.secondApplyMs, ratioToBaseline: ratio(r1.secondApplyMs, baseline.medianMs) },
    markReplayedNothingToMark: markEmpty,
    dryRunAfterApply: dryAfter,
    rounds,
  };
}

async function partB(storage: Storage, r: Replay) {
  const client = storage.jobs;
  const tenantId = 'bench24';
  const nowMs = Date.now();
  log(`part B: seeding ${fmt(totalEvents)} events within the last 24 h for '${tenantId}'`);
  let t0 = performance.now();
  await insertEvents(client, eventRows({ tenantId, metric, customers, count: totalEvents, fromMs: nowMs - 23 * hourMs, toMs: nowMs - 1000, seed: 0xb24, beyondWindow: 0 }));
  const seedMs = performance.now() - t0;
  const mergeWaitMs = await settleMerges(client);
  const parts = await partCounts(client, ['events', 'usage_hourly_counters', 'usage_period_counters']);
  const w = window24h();
  const inWindow = await eventsInWindow(client, tenantId, w);
  log('part B: timing');
  const baseline = await baselineScan(client, tenantId, w);
  const dry = await timedDryRuns(r, tenantId, w);
  const s = dry.run.result!.summary;
  check('B: every event of the tenant is in the window', inWindow === totalEvents, `${inWindow}`);
  check('B: dry-run scans every event', s.eventsScanned === totalEvents, `${s.eventsScanned}`);
  check('B: dry-run finds nothing to change', s.changed === 0 && s.lateEvents === 0, JSON.stringify(s));
  const breakdown = await diffBreakdown(client, tenantId, w);
  section(`Part B: dry-run over 24 h, tenant '${tenantId}': ${fmt(totalEvents)} events in the window`);
  line('Seeded', `${fmt(totalEvents)} events in ${ms(seedMs)}; merges settled after ${ms(mergeWaitMs)}; parts: ${Object.entries(parts).map(([t, p]) => `${t} ${p.parts}`).join(', ')}`);
  line('Baseline: bare hourly scan, JSONEachRow', `${ms(baseline.medianMs)} (${fmt(baseline.rows)} rows; median of ${runs})`);
  line(
    'Dry-run, start to done',
    `${ms(dry.timing.medianMs)} = ${x(ratio(dry.timing.medianMs, baseline.medianMs))} baseline (min ${ms(dry.timing.minMs)}, max ${ms(dry.timing.maxMs)}, first ${ms(dry.timing.warmupMs)}); ` +
      `${fmt(s.items)} items, ${fmt(breakdown.cells)} cells; ${verdict(dry.timing.medianMs, targets.replay24hMs)} (<= ${ms(targets.replay24hMs)})`,
  );
  line('  statements of a median dry-run', stepsText(dry.steps));
  printBreakdown(breakdown);
  return {
    tenantId,
    seed: { events: totalEvents, seedMs, mergeWaitMs, parts },
    window: { since: w.effective.since, until: w.effective.until, storedEvents: inWindow },
    baseline,
    dryRun: { ...dry.timing, summary: s, ratioToBaseline: ratio(dry.timing.medianMs, baseline.medianMs), pass: dry.timing.medianMs <= targets.replay24hMs, steps: dry.steps },
    breakdown,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Reconciliation SQL (part C)

type CompareAccess = { compare(tenant: TenantContext, metric: string | null, periods: string[], runId: string): Promise<Array<{ status: string }>> };

async function partC(storage: Storage) {
  const client = storage.jobs;
  const tenantId = 'recon';
  const runId = 'rec_bench';
  const epsilon = 0.005;
  const settleMs = 300_000;
  log(`part C: seeding ${fmt(reconCustomers * 2)} items (${fmt(reconCustomers)} customers x 2 periods)`);
  let t0 = performance.now();
  const seed = await seedRecon(client, { tenantId, metric, customers: reconCustomers, runId, seed: 0x5eed, nowMs: Date.now(), epsilon, settleMs });
  const seedMs = performance.now() - t0;
  const mergeWaitMs = await settleMerges(client);

  // Built as src/service.ts builds it; compare() only uses the client, the tenant's zone and the options. The client
  // is wrapped by a Probe, to split a compare into the engine (query), the transfer and JSON parse (json()) and zod.
  const probe = new Probe();
  const tenant: TenantContext = { id: tenantId, timeZone: 'UTC', stripeAccount: undefined };
  const reconciler = new Reconciler({
    client: probe.wrap(client),
    gateway: {} as StripeGateway,
    limiter: new StripeLimiter(200, 16),
    adjustments: {} as AdjustmentDeps,
    tenantOf: async () => tenant,
    metrics: createMetrics(),
    log: createLogger('warn'),
    opts: { epsilon, settleMs },
  });
  const periods = reconciler.periods(tenant);
  check('C: Reconciler.periods = the seeded periods', JSON.stringify(periods) === JSON.stringify(seed.periods), `${periods} vs ${seed.periods}`);
  const compare = (reconciler as unknown as CompareAccess).compare.bind(reconciler);
  // The parameters compare() passes, for the engine-only and per-CTE diagnostics.
  const since = Math.min(...periods.map((p) => periodBounds(p, 'UTC').start.getTime()));
  const params = {
    tenantId,
    metric: '',
    periods,
    runId,
    since: toClickHouseTime(since),
    epsilon,
    settleSeconds: Math.round(settleMs / 1000),
    unpushablePeriods: periods.filter((p) => meterEventTimestamp(periodBounds(p, 'UTC'), Date.now()) === null),
  };
  log('part C: timing');
  const baselineSql = `SELECT metric, customer_ref, period, sum(quantity) AS q FROM usage_period_counters WHERE tenant_id = {tenantId:String} GROUP BY ALL`;
  const baseline = await timeIt(async () => (await jsonRows(client, baselineSql, { tenantId })).length);
  let result: Array<{ status: string }> = [];
  const cmp = await timeIt(async () => (result = await compare(tenant, null, periods, runId)).length);
  const counts: Record<string, number> = {};
  for (const i of result) counts[i.status] = (counts[i.status] ?? 0) + 1;
  const stepSamples: Array<{ ms: number; steps: Steps }> = [];
  for (let i = 0; i < 3; i++) {
    probe.reset();
    const t1 = performance.now();
    await compare(tenant, null, periods, runId);
    const elapsed = performance.now() - t1;
    stepSamples.push({ ms: elapsed, steps: probe.summary(elapsed) });
  }
  const cmpSteps = stepSamples.sort((a, b) => a.ms - b.ms)[1]!;
  check('C: compare returns every item', cmp.rows === seed.items, `${cmp.rows} vs ${seed.items}`);
  const expectedCounts = seed.expected as Record<string, number>;
  check('C: status counts match the policy applied to the seed', Object.keys(expectedCounts).every((k) => (counts[k] ?? 0) === expectedCounts[k]), `${JSON.stringify(counts)} vs ${JSON.stringify(seed.expected)}`);
  const itemsSql = loadSql('reconcile/items');
  const items = await timeIt(async () => (await jsonRows(client, itemsSql, { tenantId, metric: '', periods })).length);
  check('C: items.sql returns the items of mapped customers', items.rows === seed.mappedItems, `${items.rows} vs ${seed.mappedItems}`);

  const sql = loadSql('reconcile/compare');
  const engine = await timeIt(() => nullFormat(client, sql, params), 3);
  const json = await timeIt(async () => (await jsonRows(client, sql, params)).length, 3);
  const ctes: Record<string, Timing> = {};
  for (const name of ['facts', 'mapped', 'compared']) {
    ctes[name] = await timeIt(() => nullFormat(client, cteOnly(sql, name), params), 3);
  }
  const baselineEngine = await timeIt(() => nullFormat(client, baselineSql, { tenantId }), 3);
  // What-ifs on the transfer (not what src runs): the raw JSONEachRow text without parsing, and JSONCompactEachRow
  // (rows as arrays: no column names repeated 100,000 times).
  const text = await timeIt(async () => (await (await client.query({ query: sql, query_params: params, format: 'JSONEachRow' })).text()).length, 3);
  const compact = await timeIt(async () => (await (await client.query({ query: sql, query_params: params, format: 'JSONCompactEachRow' })).json()).length, 3);
  const compactText = await timeIt(async () => (await (await client.query({ query: sql, query_params: params, format: 'JSONCompactEachRow' })).text()).length, 3);

  section(`Part C: reconciliation SQL over ${fmt(seed.items)} items, tenant '${tenantId}' (median of ${runs} after a warm-up)`);
  line('Seeded', `${Object.entries(seed.rows).map(([t, n]) => `${t} ${fmt(n)}`).join(', ')} in ${ms(seedMs)}; merges settled after ${ms(mergeWaitMs)}`);
  line('Baseline: bare aggregation of the counters, JSONEachRow', `${ms(baseline.medianMs)} (${fmt(baseline.rows)} rows); engine only ${ms(baselineEngine.medianMs)}`);
  line(
    'Reconciler.compare (sql/reconcile/compare.sql + zod)',
    `${ms(cmp.medianMs)} = ${x(ratio(cmp.medianMs, baseline.medianMs))} baseline (min ${ms(cmp.minMs)}, max ${ms(cmp.maxMs)}), ${fmt(cmp.rows)} items; ${verdict(cmp.medianMs, targets.reconMs)} (<= ${ms(targets.reconMs)})`,
  );
  line('  statuses', `${Object.entries(counts).map(([k, n]) => `${k} ${fmt(n)}`).join(', ')} (expected from the seed: ${Object.entries(seed.expected).map(([k, n]) => `${k} ${fmt(n)}`).join(', ')})`);
  line('  statements of a median compare', stepsText(cmpSteps.steps));
  line('  engine only (FORMAT Null) / + JSON', `${ms(engine.medianMs)} (${x(ratio(engine.medianMs, baselineEngine.medianMs))} the baseline's engine time) / ${ms(json.medianMs)}`);
  line(
    '  what-if: transfer formats',
    `JSONEachRow text only ${ms(text.medianMs)} (${fmt(text.rows / 1e6, 1)} MB); JSONCompactEachRow text only ${ms(compactText.medianMs)} (${fmt(compactText.rows / 1e6, 1)} MB), json() ${ms(compact.medianMs)}`,
  );
  line('  per CTE (engine only, incl. what it reads)', Object.entries(ctes).map(([k, t]) => `${k} ${ms(t.medianMs)}`).join(', '));
  line('reconcile/items.sql (what readStripe reads)', `${ms(items.medianMs)} = ${x(ratio(items.medianMs, baseline.medianMs))} baseline, ${fmt(items.rows)} items`);
  return {
    tenantId,
    seed: { ...seed, seedMs, mergeWaitMs },
    baseline,
    baselineEngine,
    compare: { ...cmp, ratioToBaseline: ratio(cmp.medianMs, baseline.medianMs), pass: cmp.medianMs <= targets.reconMs, statuses: counts, steps: cmpSteps },
    whatIf: { text, compact, compactText },
    engine,
    json,
    ctes,
    items: { ...items, ratioToBaseline: ratio(items.medianMs, baseline.medianMs) },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Stripe reads (part D)

async function partD(mappedItems: number) {
  const sandbox = await startStripeSandbox({ port: 0 });
  try {
    const stripe = createStripeClient({ secretKey: sandboxKey, apiBase: sandbox.url, timeoutMs: 10_000 });
    const n = stripeReads;
    log(`part D: ${fmt(n)} sandbox customers with one meter event each`);
    const meter = await stripe.billing.meters.create({ display_name: 'bench reads', event_name: 'bench_reads', default_aggregation: { formula: 'sum' } });
    const ids: string[] = new Array<string>(n);
    await pool(32, n, async (i) => {
      ids[i] = (await stripe.customers.create({ name: `reader ${i}` })).id;
    });
    const ts = Math.floor(Date.now() / 1000) - 120;
    await pool(16, n, async (i) => {
      await stripe.billing.meterEvents.create({ event_name: meter.event_name, identifier: `read_${i}`, timestamp: ts, payload: { stripe_customer_id: ids[i]!, value: '3' } });
    });
    // The parameters readStripe sends for the current period of a UTC tenant.
    const { start, end } = periodBounds(utcPeriod(0), 'UTC');
    const paramsFor = (customer: string) => ({ customer, ...summaryWindow({ start, end }, Date.now()) });
    const read = async (i: number) => {
      let sum = 0;
      for await (const s of stripe.billing.meters.listEventSummaries(meter.id, paramsFor(ids[i]!))) sum += s.aggregated_value;
      return sum;
    };
    let wrong = 0;
    await pool(16, Math.min(100, n), async (i) => {
      await read(i);
    }); // warm-up: sockets, JIT
    let t0 = performance.now();
    await pool(16, n, async (i) => {
      if ((await read(i)) !== 3) wrong++;
    });
    const rawMs = performance.now() - t0;
    // As Reconciler.readStripe runs them: every item at once through the limiter (sandbox default: 200/s, 16 in flight).
    const limiter = new StripeLimiter(200, 16);
    t0 = performance.now();
    await Promise.all(
      ids.map((id, i) =>
        limiter.run(`${meter.id}\u0000${id}`, async () => {
          if ((await read(i)) !== 3) wrong++;
        }),
      ),
    );
    const limitedMs = performance.now() - t0;
    check('D: every summary read returns the customer total', wrong === 0, `${wrong} wrong`);
    const rawPerSec = (n / rawMs) * 1000;
    const limitedPerSec = (n / limitedMs) * 1000;
    section(`Part D: Stripe reads measured apart (${fmt(n)} event summary reads against the in-process sandbox)`);
    line('Raw: real stripe client, 16 concurrent, no limiter', `${ms(rawMs)} = ${fmt(rawPerSec)} reads/s`);
    line(
      'Through StripeLimiter(200/s, 16), as readStripe',
      `${ms(limitedMs)} = ${fmt(limitedPerSec)} reads/s (${x(ratio(limitedPerSec, rawPerSec))} raw); ${fmt(mappedItems)} mapped items would take ` +
        `${fmt(mappedItems / limitedPerSec, 0)} s at this rate (${fmt(mappedItems / rawPerSec, 0)} s raw)`,
    );
    return { reads: n, rawMs, rawPerSec, limitedMs, limitedPerSec, limiter: { ratePerSecond: 200, maxInFlight: 16 }, extrapolatedSeconds: { items: mappedItems, limited: mappedItems / limitedPerSec, raw: mappedItems / rawPerSec } };
  } finally {
    await sandbox.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------

async function main() {
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'stripemeter-bench-replay-'));
  const loadBefore = os.loadavg();
  let storage: Storage | undefined;
  let replay: Replay | undefined;
  try {
    storage = await openStorage(loadConfig({ STRIPEMETER_DATA_DIR: tmp, STRIPE_SANDBOX_PORT: '0' }));
    await migrate(storage.jobs, {});
    await insertRows(storage.jobs, 'tenants', ['bench', 'bench24', 'recon'].map((id) => ({ id, timezone: 'UTC' })));
    replay = replayRunner(storage);
    const a = await partA(storage, replay);
    const b = skipB ? undefined : await partB(storage, replay);
    const c = reconCustomers > 0 ? await partC(storage) : undefined;
    const d = stripeReads > 0 ? await partD(c?.seed.mappedItems ?? 98_000) : undefined;
    const peakRss = process.resourceUsage().maxRSS * 1024;
    const totalSeconds = (performance.now() - t0) / 1000;

    section('Process');
    line('Peak RSS (node + embedded ClickHouse)', `${fmt(peakRss / 1024 / 1024)} MiB`);
    line('Load average (1 min) at start / end', `${fmt(loadBefore[0]!, 2)} / ${fmt(os.loadavg()[0]!, 2)} on ${os.cpus().length} CPUs (shared machine: other benchmarks may run)`);
    line('Correctness checks', checksLine());
    line('Total runtime', `${fmt(totalSeconds, 0)} s`);

    section('Targets');
    const targetLines: Array<[string, number, number]> = [[`A dry-run of the 24 h window (<= ${targets.replayWindowMs} ms)`, a.dryRun.medianMs, targets.replayWindowMs], [`A apply of the 24 h window, median of rounds (<= ${targets.replayWindowMs} ms)`, a.apply.medianMs, targets.replayWindowMs]];
    if (b) targetLines.push([`B dry-run over 24 h of ${fmt(totalEvents)} events (<= ${targets.replay24hMs} ms)`, b.dryRun.medianMs, targets.replay24hMs]);
    if (c) targetLines.push([`C reconciliation SQL over ${fmt(c.compare.rows)} items (<= ${targets.reconMs} ms)`, c.compare.medianMs, targets.reconMs]);
    for (const [k, v, t] of targetLines) line(k, `${ms(v)} ${verdict(v, t)}`);

    printReport('stripemeter replay / reconciliation benchmark');

    writeResults(root, 'replay', startedAt, loadBefore, {
      settings: { totalEvents, customers, lateEvents, applyRounds, runs, reconCustomers, stripeReads, chunkMs, targets },
      replayWindow: a,
      replay24h: b,
      reconciliation: c,
      stripeReads: d,
      peakRssBytes: peakRss,
      totalSeconds,
    });
  } finally {
    await replay?.writer.close();
    await storage?.close();
    if (keep) log(`data kept in ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
