/**
 * Ingest throughput benchmark (not a timed test): the service's HTTP ingest rate against the engine's raw insert rate
 * of the same rows, measured in the same run (why the group commit exists: docs/architecture.md, "Connections").
 *
 *   npm run bench:ingest                       # 2,000,000 events
 *   BENCH_EVENTS=200000 npm run bench:ingest   # quick run
 *
 * 1. Raw baseline, in this process on its own data directory: the service's migrations, then the same rows the
 *    service will store (built by the service's own prepareEvent) inserted with raw `INSERT INTO events FORMAT
 *    JSONEachRow` in large blocks; the block size with the best rate on a calibration slice is used for all rows.
 * 2. The service in a child process (`node dist/src/cli.js start`, embedded engine, its own data directory):
 *    peak (closed loop, 1,000-event batches, BENCH_CONCURRENCY in flight), then 10% duplicate keys per batch, then
 *    open-loop runs paced at half the peak rate for per-batch latency: half the peak run's average rate, and half
 *    the rate of its last tenth (the service slows as the table grows, so the average can overload it by then).
 * 3. The service is stopped; its data directory is opened here to check that every key was stored once and that
 *    the counters add up to the events, then merged (OPTIMIZE FINAL) to measure bytes per event on disk.
 *
 * Environment: BENCH_EVENTS (2000000), BENCH_CONCURRENCY (12), BENCH_DUP_EVENTS (BENCH_EVENTS / 4),
 * BENCH_LATENCY_SECONDS (15), BENCH_RAW_BLOCKS (20000,50000,100000), BENCH_CUSTOMERS (3000),
 * BENCH_SETTLE_MS (5000, pause between phases), BENCH_CHILD_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"),
 * BENCH_KEEP=1 keeps the temporary data directories.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClickHouseClient } from '@clickhouse/client';
import { prepareEvent } from '../src/ingest/event.js';
import { EventGenerator, decimalToMicros, type BenchEvent } from './lib/events.js';
import { microsToDecimal } from './lib/seed.js';
import { activeParts, migrateEngine, openEngine, optimizeAll, rawInsert, rows, truncateEvents, type TableParts } from './lib/engine.js';
import { IngestClient, deciles, percentile, type PhaseResult } from './lib/http.js';
import { cpuSecondsOf, machineBusySeconds, memoryOf, metricValue, runDirectory, startServiceChild, type ServiceChild } from './lib/service.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const env = (name: string, fallback: number) => {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number`);
  return n;
};

const batchSize = 1000;
const totalEvents = Math.ceil(env('BENCH_EVENTS', 2_000_000) / batchSize) * batchSize;
const concurrency = env('BENCH_CONCURRENCY', 12);
const dupEvents = Math.ceil(env('BENCH_DUP_EVENTS', totalEvents / 4) / batchSize) * batchSize;
const dupPerBatch = 100;
const latencySeconds = env('BENCH_LATENCY_SECONDS', 15);
const settleMs = env('BENCH_SETTLE_MS', 5000);
const warmupBatches = 20;
const rawBlocks = (process.env.BENCH_RAW_BLOCKS || '20000,50000,100000').split(',').map(Number);
const childNodeArgs = (process.env.BENCH_CHILD_NODE_ARGS || '').split(' ').filter(Boolean);
const keep = process.env.BENCH_KEEP === '1';

const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const mib = (bytes: number) => `${fmt(bytes / 1024 / 1024, 0)} MiB`;

const gen = new EventGenerator({ tenantId: 'demo', customers: env('BENCH_CUSTOMERS', 3000), spreadMs: 4 * 3600_000, nowMs: Date.now(), seed: 0x5eed });

/** Everything the service was sent that it should have stored: each key once. */
const expected = { keys: 0, micros: 0n };

type Batches = { bodies: Buffer[]; bytes: number };

/** Request bodies for event numbers [from, from + count), 1,000 per batch; `dupFrom` adds 10% resent earlier events. */
function buildBodies(from: number, count: number, dup?: { maxSeq: number; rnd: () => number }): Batches {
  const bodies: Buffer[] = [];
  let bytes = 0;
  let seq = from;
  const fresh = dup ? batchSize - dupPerBatch : batchSize;
  for (let done = 0; done < count; done += batchSize) {
    const events: BenchEvent[] = [];
    for (let i = 0; i < fresh; i++) {
      const { event, micros } = gen.event(seq++);
      events.push(event);
      expected.keys++;
      expected.micros += micros;
    }
    if (dup) {
      // Every 10th event resends an event stored earlier, unchanged: the service must answer 'duplicate'.
      for (let i = 0; i < dupPerBatch; i++) {
        const old = Math.floor(dup.rnd() * dup.maxSeq);
        events.splice(i * 10, 0, gen.event(old).event);
      }
    }
    const body = Buffer.from(JSON.stringify({ events }));
    bodies.push(body);
    bytes += body.length;
  }
  return { bodies, bytes };
}

// ---------------------------------------------------------------------------------------------------------------
// Raw engine baseline

type RawResult = { blockRows: number; rows: number; elapsedMs: number; rowsPerSec: number; timeline: number[] };

/** JSONEachRow lines of the rows the service stores for event numbers [from, from + count), built by its own prepareEvent. */
function jsonEachRowLines(from: number, count: number): string[] {
  const ctx = { nowMs: Date.now(), retentionMs: 90 * 86400_000, timeZoneOf: () => 'UTC' };
  const lines: string[] = [];
  for (let seq = from; seq < from + count; seq++) {
    const r = prepareEvent(gen.event(seq).event, ctx);
    if (!r.ok) throw new Error(`generated event ${seq} is invalid: ${r.error.message}`);
    lines.push(JSON.stringify(r.row));
  }
  return lines;
}

function toBlocks(lines: string[], blockRows: number): string[] {
  const blocks: string[] = [];
  for (let i = 0; i < lines.length; i += blockRows) blocks.push(lines.slice(i, i + blockRows).join('\n') + '\n');
  return blocks;
}

async function timedRawInsert(client: ClickHouseClient, blocks: string[], rowCount: number, blockRows: number): Promise<RawResult> {
  const t0 = performance.now();
  const doneAt: number[] = [];
  for (const block of blocks) {
    await rawInsert(client, block);
    doneAt.push(performance.now() - t0);
  }
  const elapsedMs = performance.now() - t0;
  // Rows per block differ only in the last block; the timeline treats blocks as equal units.
  const timeline = blocks.length >= 10 ? deciles(doneAt, rowCount / blocks.length) : [];
  return { blockRows, rows: rowCount, elapsedMs, rowsPerSec: rowCount / (elapsedMs / 1000), timeline };
}

async function rawBaseline(dataDir: string, from: number, count: number) {
  const client = openEngine(dataDir);
  try {
    await migrateEngine(client);
    const calibrationRows = Math.min(count, 400_000);
    const calibration: RawResult[] = [];
    const calibrationLines = jsonEachRowLines(from, calibrationRows);
    for (const blockRows of rawBlocks) {
      await truncateEvents(client);
      const blocks = toBlocks(calibrationLines, blockRows);
      await sleep(500);
      const r = await timedRawInsert(client, blocks, calibrationRows, blockRows);
      calibration.push(r);
      log(`raw calibration: ${fmt(blockRows)} rows/insert -> ${fmt(r.rowsPerSec)} rows/s`);
    }
    const best = calibration.reduce((a, b) => (b.rowsPerSec > a.rowsPerSec ? b : a));
    await truncateEvents(client);
    calibrationLines.length = 0;
    let lines = jsonEachRowLines(from, count);
    const blocks = toBlocks(lines, best.blockRows);
    lines = [];
    await sleep(1000);
    const cpu0 = process.cpuUsage();
    const busy0 = machineBusySeconds();
    const full = await timedRawInsert(client, blocks, count, best.blockRows);
    const cpu = process.cpuUsage(cpu0);
    const otherCpuSeconds = Math.max(0, machineBusySeconds() - busy0 - (cpu.user + cpu.system) / 1e6);
    blocks.length = 0;
    log(`raw full: ${fmt(count)} rows in ${fmt(full.elapsedMs / 1000, 1)} s at ${fmt(best.blockRows)} rows/insert -> ${fmt(full.rowsPerSec)} rows/s`);
    const optimizeMs = await optimizeAll(client);
    const parts = await activeParts(client);
    return { calibration, full, cpuSeconds: (cpu.user + cpu.system) / 1e6, otherCpuSeconds, optimizeMs, parts };
  } finally {
    await client.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Service phases

type PhaseReport = {
  name: string;
  batches: number;
  events: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  seconds: number;
  eventsPerSec: number;
  acceptedPerSec: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  serviceCpuSeconds: number;
  benchCpuSeconds: number;
  /** CPU used by other processes on the machine during the phase: anything above ~0 makes the figures noisy. */
  otherCpuSeconds: number;
  commits: number;
  avgRowsPerCommit: number;
  avgCommitMs: number;
  serviceRssPeak: number;
  /** Events/s per tenth of the phase. */
  timeline: number[];
  /** Background push cycles (Stripe worker) that ran during the phase, and their total duration. */
  pushCycles: number;
  pushSeconds: number;
};

async function phase(name: string, svc: ServiceChild, run: () => Promise<PhaseResult>): Promise<PhaseReport & { raw: PhaseResult }> {
  const m0 = await svc.metricsText();
  const svcCpu0 = cpuSecondsOf(svc.pid);
  const cpu0 = process.cpuUsage();
  const busy0 = machineBusySeconds();
  let rssPeak = 0;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, svc.sampleMemory().rss)), 250);
  let r: PhaseResult;
  try {
    r = await run();
  } finally {
    clearInterval(sampler);
  }
  rssPeak = Math.max(rssPeak, svc.sampleMemory().rss);
  const cpu = process.cpuUsage(cpu0);
  const svcCpu = cpuSecondsOf(svc.pid) - svcCpu0;
  const busy = machineBusySeconds() - busy0;
  const m1 = await svc.metricsText();
  const d = (metric: string) => metricValue(m1, metric) - metricValue(m0, metric);
  const commits = d('ingest_commit_rows_count');
  const report: PhaseReport & { raw: PhaseResult } = {
    name,
    batches: r.batches,
    events: r.events,
    accepted: r.accepted,
    duplicates: r.duplicates,
    rejected: r.rejected,
    seconds: r.elapsedMs / 1000,
    eventsPerSec: r.eventsPerSec,
    acceptedPerSec: r.accepted / (r.elapsedMs / 1000),
    latencyMs: {
      p50: percentile(r.latenciesMs, 50),
      p95: percentile(r.latenciesMs, 95),
      p99: percentile(r.latenciesMs, 99),
      max: percentile(r.latenciesMs, 100),
    },
    serviceCpuSeconds: svcCpu,
    benchCpuSeconds: (cpu.user + cpu.system) / 1e6,
    otherCpuSeconds: Math.max(0, busy - svcCpu - (cpu.user + cpu.system) / 1e6),
    commits,
    avgRowsPerCommit: commits ? d('ingest_commit_rows_sum') / commits : 0,
    avgCommitMs: commits ? (d('ingest_commit_duration_seconds_sum') / commits) * 1000 : 0,
    serviceRssPeak: rssPeak,
    timeline: r.timeline,
    pushCycles: d('push_cycle_duration_seconds_count'),
    pushSeconds: d('push_cycle_duration_seconds_sum'),
    raw: r,
  };
  log(
    `${name}: ${fmt(r.events)} events in ${fmt(report.seconds, 1)} s -> ${fmt(r.eventsPerSec)} events/s; ` +
      `p50 ${fmt(report.latencyMs.p50, 1)} ms, p95 ${fmt(report.latencyMs.p95, 1)} ms; ` +
      `${fmt(commits)} commits of ${fmt(report.avgRowsPerCommit)} rows, ${fmt(report.avgCommitMs, 1)} ms each; ` +
      `service CPU ${fmt(svcCpu, 1)} s, bench CPU ${fmt(report.benchCpuSeconds, 1)} s, other processes ${fmt(report.otherCpuSeconds, 1)} s`,
  );
  return report;
}

function expectCounts(name: string, r: PhaseResult, accepted: number, duplicates: number) {
  if (r.accepted !== accepted || r.duplicates !== duplicates || r.rejected !== 0) {
    throw new Error(`${name}: expected ${accepted} accepted / ${duplicates} duplicates / 0 rejected, got ${r.accepted} / ${r.duplicates} / ${r.rejected}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------

async function main() {
  const started = performance.now();
  const loadStart = os.loadavg();
  let svc: ServiceChild | undefined;
  const { tmp, cleanup } = runDirectory('stripemeter-bench-', keep, () => svc);
  const rawDir = path.join(tmp, 'raw');
  const svcDir = path.join(tmp, 'service');
  log(
    `events ${fmt(totalEvents)}, batch ${batchSize}, concurrency ${concurrency}, duplicate phase ${fmt(dupEvents)}, ` +
      `latency phase ${latencySeconds} s, ${os.cpus().length} CPUs, data in ${tmp}`,
  );

  try {
    // Event numbers: warm-up, then the peak run (the same rows go to the raw baseline), then duplicates, then latency.
    const warmupFrom = 0;
    const peakFrom = warmupFrom + warmupBatches * batchSize;
    const dupFrom = peakFrom + totalEvents;
    const dupFresh = (dupEvents / batchSize) * (batchSize - dupPerBatch);
    const latencyFrom = dupFrom + dupFresh;

    // 1. Raw engine baseline (no service running yet, so nothing else competes for the CPUs).
    const raw = await rawBaseline(rawDir, peakFrom, totalEvents);
    rmSync(rawDir, { recursive: true, force: true });

    // 2. Pre-built request bodies, then the service.
    const genStart = performance.now();
    const warmup = buildBodies(warmupFrom, warmupBatches * batchSize);
    const peak = buildBodies(peakFrom, totalEvents);
    let dupRnd = 0x1234567;
    const dup = buildBodies(dupFrom, dupEvents, {
      maxSeq: dupFrom,
      rnd: () => ((dupRnd = (Math.imul(dupRnd, 1103515245) + 12345) >>> 0) / 4294967296),
    });
    log(
      `built ${fmt(peak.bodies.length + dup.bodies.length + warmup.bodies.length)} request bodies in ` +
        `${fmt((performance.now() - genStart) / 1000, 1)} s (${fmt(peak.bytes / peak.bodies.length / batchSize)} bytes/event as JSON)`,
    );

    svc = await startServiceChild({ root, dataDir: svcDir, nodeArgs: childNodeArgs });
    log(`service pid ${svc.pid} ready on port ${svc.port}`);
    const client = new IngestClient(svc.port, svc.adminKey);

    const w = await client.closedLoop(warmup.bodies, batchSize, concurrency);
    expectCounts('warm-up', w, w.events, 0);
    await sleep(settleMs);

    const peakReport = await phase('peak', svc, () => client.closedLoop(peak.bodies, batchSize, concurrency));
    expectCounts('peak', peakReport.raw, totalEvents, 0);
    peak.bodies.length = 0;
    await sleep(settleMs);

    const dupReport = await phase('10% duplicates', svc, () => client.closedLoop(dup.bodies, batchSize, concurrency));
    expectCounts('10% duplicates', dupReport.raw, dupFresh, dupEvents - dupFresh);
    dup.bodies.length = 0;

    // Paced runs: at half the peak run's average rate (the headline figure), then at half the rate the peak run
    // reached in its last tenth (the table is larger by then, and the service slower).
    let nextSeq = latencyFrom;
    const paced = async (name: string, targetRate: number) => {
      const intervalMs = (batchSize / targetRate) * 1000;
      const batches = Math.max(20, Math.round((latencySeconds * 1000) / intervalMs));
      const bodies = buildBodies(nextSeq, batches * batchSize);
      nextSeq += batches * batchSize;
      await sleep(settleMs);
      let extra = { maxInFlight: 0, lateStartsMs: 0 };
      const report = await phase(name, svc!, async () => {
        const r = await client.openLoop(bodies.bodies, batchSize, intervalMs);
        extra = { maxInFlight: r.maxInFlight, lateStartsMs: r.lateStartsMs };
        return r;
      });
      expectCounts(name, report.raw, batches * batchSize, 0);
      bodies.bodies.length = 0;
      return { ...report, targetEventsPerSec: targetRate, intervalMs, ...extra };
    };
    const latencyReport = await paced('latency @ 50% peak', peakReport.eventsPerSec / 2);
    const endOfPeakRate = peakReport.timeline[peakReport.timeline.length - 1] ?? peakReport.eventsPerSec;
    const latencyLateReport = await paced('latency @ 50% end-of-run peak', endOfPeakRate / 2);

    const stopped = await svc.stop();
    svc = undefined;
    if (stopped.code !== 0) throw new Error(`service exited with code ${stopped.code}`);
    log(`service stopped; peak RSS ${mib(stopped.hwm)}`);

    // 3. Correctness and size on disk, in this process (the baseline engine is closed: one data dir per process).
    const engine = openEngine(svcDir);
    let storage: {
      events: number;
      distinctKeys: number;
      eventsQuantity: string;
      periodCounters: { events: number; quantity: string };
      hourlyCounters: { events: number; quantity: string };
      optimizeMs: number;
      parts: TableParts[];
    };
    try {
      const [ev] = await rows<{ n: string; keys: string; q: string }>(
        engine,
        'SELECT count() AS n, uniqExact(tenant_id, idempotency_key) AS keys, toString(sum(quantity)) AS q FROM events',
      );
      const counters = async (table: string) => {
        const [c] = await rows<{ n: string; q: string }>(engine, `SELECT sum(events) AS n, toString(sum(quantity)) AS q FROM ${table}`);
        return { events: Number(c!.n), quantity: c!.q };
      };
      const periodCounters = await counters('usage_period_counters');
      const hourlyCounters = await counters('usage_hourly_counters');
      const optimizeMs = await optimizeAll(engine);
      storage = {
        events: Number(ev!.n),
        distinctKeys: Number(ev!.keys),
        eventsQuantity: ev!.q,
        periodCounters,
        hourlyCounters,
        optimizeMs,
        parts: await activeParts(engine),
      };
    } finally {
      await engine.close();
    }

    const expectedQuantity = microsToDecimal(expected.micros);
    const checks = {
      eventsEqualKeysSent: storage.events === expected.keys,
      noDuplicateKeysStored: storage.distinctKeys === storage.events,
      eventsQuantityEqualsSent: decimalToMicros(storage.eventsQuantity) === expected.micros,
      periodCountersEqualEvents:
        decimalToMicros(storage.periodCounters.quantity) === decimalToMicros(storage.eventsQuantity) && storage.periodCounters.events === storage.events,
      hourlyCountersEqualEvents:
        decimalToMicros(storage.hourlyCounters.quantity) === decimalToMicros(storage.eventsQuantity) && storage.hourlyCounters.events === storage.events,
    };

    const part = (parts: TableParts[], table: string) => parts.find((p) => p.table === table);
    const evParts = part(storage.parts, 'events');
    const counterBytes = storage.parts.filter((p) => p.table !== 'events').reduce((n, p) => n + p.bytesOnDisk, 0);
    const rawEvParts = part(raw.parts, 'events');
    const benchMem = memoryOf('self');
    const ratio = peakReport.eventsPerSec / raw.full.rowsPerSec;

    const result = {
      startedAt: new Date(Date.now() - (performance.now() - started)).toISOString(),
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
      settings: { totalEvents, batchSize, concurrency, dupEvents, dupPerBatch, latencySeconds, customers: gen.opts.customers },
      raw: {
        calibration: raw.calibration,
        full: raw.full,
        cpuSeconds: raw.cpuSeconds,
        otherCpuSeconds: raw.otherCpuSeconds,
        optimizeMs: raw.optimizeMs,
        parts: raw.parts,
      },
      loadAverage: { start: loadStart, end: os.loadavg() },
      http: {
        peak: { ...peakReport, raw: undefined },
        duplicates: { ...dupReport, raw: undefined },
        latency: { ...latencyReport, raw: undefined },
        latencyEndOfRun: { ...latencyLateReport, raw: undefined },
      },
      ratioHttpToRaw: ratio,
      memory: { servicePeakRss: stopped.hwm, benchPeakRss: benchMem.hwm },
      storage: {
        ...storage,
        expectedKeys: expected.keys,
        expectedQuantity,
        eventsBytesPerEvent: evParts ? evParts.bytesOnDisk / evParts.rows : NaN,
        countersBytesPerEvent: counterBytes / storage.events,
        rawBaselineEventsBytesPerEvent: rawEvParts ? rawEvParts.bytesOnDisk / rawEvParts.rows : NaN,
      },
      checks,
      totalSeconds: (performance.now() - started) / 1000,
    };

    const ok = Object.values(checks).every(Boolean);
    const lines: Array<[string, string]> = [
      ['HTTP ingest, peak (events/s)', `${fmt(peakReport.eventsPerSec)}  (${fmt(totalEvents)} events, ${concurrency} in flight, ${fmt(peakReport.seconds, 1)} s)`],
      [
        'Raw engine insert (rows/s)',
        `${fmt(raw.full.rowsPerSec)}  (${fmt(raw.full.blockRows)} rows/INSERT, ${fmt(raw.full.elapsedMs / 1000, 1)} s; other processes ${fmt(raw.otherCpuSeconds, 1)} CPU s)`,
      ],
      ['Ratio HTTP / raw', fmt(ratio, 3)],
      ['HTTP with 10% duplicate keys (events/s)', `${fmt(dupReport.eventsPerSec)}  (${fmt(dupReport.acceptedPerSec)} new/s, ${fmt(dupEvents)} events)`],
      [
        'Latency per batch @ 50% peak',
        `p50 ${fmt(latencyReport.latencyMs.p50, 1)} ms, p95 ${fmt(latencyReport.latencyMs.p95, 1)} ms, p99 ${fmt(latencyReport.latencyMs.p99, 1)} ms ` +
          `(target ${fmt(latencyReport.targetEventsPerSec)} events/s, achieved ${fmt(latencyReport.eventsPerSec)}, ${fmt(latencyReport.seconds, 1)} s)`,
      ],
      [
        'Latency per batch @ 50% end-of-run peak',
        `p50 ${fmt(latencyLateReport.latencyMs.p50, 1)} ms, p95 ${fmt(latencyLateReport.latencyMs.p95, 1)} ms, p99 ${fmt(latencyLateReport.latencyMs.p99, 1)} ms ` +
          `(target ${fmt(latencyLateReport.targetEventsPerSec)} events/s, achieved ${fmt(latencyLateReport.eventsPerSec)}, ${fmt(latencyLateReport.seconds, 1)} s)`,
      ],
      ['HTTP rate per tenth of peak run (events/s)', peakReport.timeline.map((x) => fmt(x)).join(' ')],
      ['Raw rate per tenth of raw run (rows/s)', raw.full.timeline.map((x) => fmt(x)).join(' ')],
      ['Latency per batch at peak (closed loop)', `p50 ${fmt(peakReport.latencyMs.p50, 1)} ms, p95 ${fmt(peakReport.latencyMs.p95, 1)} ms`],
      ['Group commits at peak', `${fmt(peakReport.commits)} commits, ${fmt(peakReport.avgRowsPerCommit)} rows, ${fmt(peakReport.avgCommitMs, 1)} ms each`],
      ['Push worker during peak', `${fmt(peakReport.pushCycles)} cycles, ${fmt(peakReport.pushSeconds, 1)} s`],
      [
        'CPU at peak: service + bench (+ others) / wall',
        `${fmt(peakReport.serviceCpuSeconds, 1)} s + ${fmt(peakReport.benchCpuSeconds, 1)} s (+ ${fmt(peakReport.otherCpuSeconds, 1)} s) over ${fmt(peakReport.seconds, 1)} s`,
      ],
      ['Peak RSS, service process', mib(stopped.hwm)],
      ['Peak RSS, bench process (raw engine + bodies)', mib(benchMem.hwm)],
      [
        'Bytes/event on disk after merges (events)',
        `${fmt(result.storage.eventsBytesPerEvent, 1)}  (${mib(evParts?.bytesOnDisk ?? 0)}, ${evParts?.parts ?? 0} parts; raw baseline table ${fmt(result.storage.rawBaselineEventsBytesPerEvent, 1)})`,
      ],
      ['Bytes/event, counters tables', `${fmt(result.storage.countersBytesPerEvent, 2)}  (${mib(counterBytes)})`],
      ['Stored events / keys sent', `${fmt(storage.events)} / ${fmt(expected.keys)}`],
      ['Checks', ok ? 'all passed' : `FAILED: ${Object.entries(checks).filter(([, v]) => !v).map(([k]) => k).join(', ')}`],
      ['Total runtime', `${fmt(result.totalSeconds, 0)} s`],
      ['Load average at start / end', `${result.loadAverage.start.map((x) => x.toFixed(2)).join(' ')} / ${result.loadAverage.end.map((x) => x.toFixed(2)).join(' ')}`],
    ];
    const width = Math.max(...lines.map(([k]) => k.length));
    console.log('\nstripemeter ingest benchmark');
    console.log('-'.repeat(width + 60));
    for (const [k, v] of lines) console.log(`${k.padEnd(width)}  ${v}`);
    console.log('-'.repeat(width + 60));

    const outDir = path.join(root, 'bench', 'results');
    mkdirSync(outDir, { recursive: true });
    const file = path.join(outDir, `ingest-${result.startedAt.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
    console.log(`results: ${path.relative(root, file)}`);
    if (!ok) process.exitCode = 1;
  } finally {
    cleanup();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
