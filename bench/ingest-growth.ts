/**
 * Ingest as the table grows (not a timed test): does HTTP ingest cost the same with 20M events stored as with none?
 *
 *   npm run bench:growth                                              # 0 and 20M stored, 1M events each
 *   BENCH_GROWTH_STORED=0,100000000 BENCH_GROWTH_EVENTS=2000000 npm run bench:growth
 *
 * 1. Raw baseline in this process: the rows the service stores for the measured events (built by its own
 *    prepareEvent) inserted into a fresh database with `INSERT INTO events FORMAT JSONEachRow` in 20,000-row blocks,
 *    through the same materialized views. The HTTP rates are reported as a ratio to this rate.
 * 2. For each stored size: a fresh data directory, the service's migrations, then that many events preloaded with
 *    `INSERT INTO events SELECT ... FROM numbers(...)` (through the same tables and views as ingest; random UUID keys,
 *    as clients send), merges settled. The service starts on it (no key filter snapshot yet: a full rebuild), stops
 *    (writing its snapshot) and starts again (snapshot start-up), then takes BENCH_GROWTH_EVENTS fresh events with
 *    random UUID keys, 1,000 per request, BENCH_CONCURRENCY in flight; then an open-loop run at half that rate for
 *    per-batch latency. Checks: every key stored once, counters equal to the events.
 * 3. Bytes per event on disk after merges (OPTIMIZE FINAL) for the events and keys tables, on the last size.
 *
 * Environment: BENCH_GROWTH_STORED (0,20000000), BENCH_GROWTH_EVENTS (1000000), BENCH_CONCURRENCY (12),
 * BENCH_LATENCY_SECONDS (15), BENCH_GROWTH_OPTIMIZE (1: measure bytes/event after OPTIMIZE FINAL), BENCH_KEEP=1.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClickHouseClient } from '@clickhouse/client';
import { prepareEvent } from '../src/ingest/event.js';
import { EventGenerator, type BenchEvent } from './lib/events.js';
import { migrateEngine, openEngine, optimizeAll, preloadEvents, rawInsert, rows } from './lib/engine.js';
import { IngestClient, percentile, type PhaseResult } from './lib/http.js';
import { check, checksLine, env, fmt, line, log, printReport, section, settleMerges, writeResults } from './lib/report.js';
import { cpuSecondsOf, metricValue, startServiceChild } from './lib/service.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const storedSizes = (process.env.BENCH_GROWTH_STORED || '0,20000000').split(',').map(Number);
const batchSize = 1000;
const events = Math.ceil(env('BENCH_GROWTH_EVENTS', 1_000_000) / batchSize) * batchSize;
const concurrency = env('BENCH_CONCURRENCY', 12);
const latencySeconds = env('BENCH_LATENCY_SECONDS', 15);
const optimize = process.env.BENCH_GROWTH_OPTIMIZE !== '0';
/** Events kept apart for the half-load run after the measured one: enough for latencySeconds at 60k events/s. */
const pacedReserve = Math.ceil((latencySeconds * 60_000) / batchSize) * batchSize;
const keep = process.env.BENCH_KEEP === '1';
const mib = (bytes: number) => `${fmt(bytes / 2 ** 20)} MiB`;

const gen = new EventGenerator({ tenantId: 'demo', customers: 3000, spreadMs: 4 * 3600_000, nowMs: Date.now(), seed: 0x9e0 });

/** Events [from, from + count) with random UUID keys (as clients send them): random in every granule of a key order. */
function benchEvents(from: number, count: number): BenchEvent[] {
  return Array.from({ length: count }, (_, i) => ({ ...gen.event(from + i).event, idempotencyKey: randomUUID() }));
}

function bodies(list: BenchEvent[]): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < list.length; i += batchSize) out.push(Buffer.from(JSON.stringify({ events: list.slice(i, i + batchSize) })));
  return out;
}

/** The raw engine's rate for the rows these events become, in 20,000-row JSONEachRow blocks. */
async function rawRate(dir: string, list: BenchEvent[]): Promise<number> {
  const ctx = { nowMs: Date.now(), retentionMs: 90 * 86400_000, timeZoneOf: () => 'UTC' };
  const lines = list.map((e) => {
    const r = prepareEvent(e, ctx);
    if (!r.ok) throw new Error(`generated event is invalid: ${r.error.message}`);
    return JSON.stringify(r.row);
  });
  const blocks: string[] = [];
  for (let i = 0; i < lines.length; i += 20_000) blocks.push(lines.slice(i, i + 20_000).join('\n') + '\n');
  const client = openEngine(dir);
  try {
    await migrateEngine(client);
    const t0 = performance.now();
    for (const b of blocks) await rawInsert(client, b);
    return list.length / ((performance.now() - t0) / 1000);
  } finally {
    await client.close();
  }
}

/**
 * Preloads `count` events through the events table and its views, one INSERT ... SELECT per million rows: random
 * UUID keys, 3,000 customers, three metrics, times spread over the last 20 days.
 */
type Run = {
  stored: number;
  /** Events the service accepted in this run (peak and half load). */
  ingested: number;
  preloadSeconds: number;
  startFullMs: number;
  startSnapshotMs: number;
  rate: number;
  tenths: number[];
  p50: number;
  p95: number;
  halfLoad: { rate: number; p50: number; p95: number; p99: number };
  serviceRssPeak: number;
  serviceCpuUsPerEvent: number;
  dedupe: { filter: number; lookup: number; recent: number };
};

async function timedStart(dir: string) {
  const t0 = performance.now();
  const svc = await startServiceChild({ root, dataDir: dir, env: { LOG_LEVEL: 'info' } });
  return { svc, ms: performance.now() - t0 };
}

async function measure(stored: number, list: BenchEvent[]): Promise<Run & { dir: string; tmp: string }> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'stripemeter-growth-'));
  const dir = path.join(tmp, 'service');
  const engine = openEngine(dir);
  let preloadMs = 0;
  try {
    await migrateEngine(engine);
    preloadMs = await preloadEvents(engine, stored);
    // Stored long ago, as in a service that has run for a while: a start from the snapshot then reads back only the
    // keys inserted since the snapshot, not the whole preload (which happened minutes before it).
    if (stored > 0) {
      await engine.command({ query: 'ALTER TABLE event_keys UPDATE inserted_at = inserted_at - toIntervalDay(1) WHERE 1 SETTINGS mutations_sync = 2' });
    }
    await settleMerges(engine, 600_000);
  } finally {
    await engine.close();
  }
  log(`${fmt(stored)} stored: preloaded in ${fmt(preloadMs / 1000, 1)} s`);

  const first = await timedStart(dir);
  const firstStop = await first.svc.stop();
  if (firstStop.code !== 0) throw new Error(`service exited with ${firstStop.code}`);
  const { svc, ms: startSnapshotMs } = await timedStart(dir);
  try {
    const client = new IngestClient(svc.port, svc.adminKey);
    const peakBodies = bodies(list.slice(0, events));
    const m0 = await svc.metricsText();
    const cpu0 = cpuSecondsOf(svc.pid);
    let rssPeak = 0;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, svc.sampleMemory().rss)), 250);
    let peak: PhaseResult;
    let paced: PhaseResult;
    try {
      peak = await client.closedLoop(peakBodies, batchSize, concurrency);
      const cpu = cpuSecondsOf(svc.pid) - cpu0;
      const rate = peak.eventsPerSec;
      const interval = (batchSize / (rate / 2)) * 1000;
      const pacedCount = Math.min(pacedReserve / batchSize, Math.max(20, Math.round((latencySeconds * 1000) / interval)));
      paced = await client.openLoop(bodies(list.slice(events, events + pacedCount * batchSize)), batchSize, interval);
      rssPeak = Math.max(rssPeak, svc.sampleMemory().rss);
      const m1 = await svc.metricsText();
      const answers = (answer: string) =>
        metricValue(m1, `ingest_dedupe_keys_total{answer="${answer}"}`) - metricValue(m0, `ingest_dedupe_keys_total{answer="${answer}"}`);
      check(`${stored} stored: every event accepted`, peak.accepted + paced.accepted === peak.events + paced.events, `${peak.accepted + paced.accepted}`);
      return {
        dir,
        tmp,
        stored,
        ingested: peak.accepted + paced.accepted,
        preloadSeconds: preloadMs / 1000,
        startFullMs: first.ms,
        startSnapshotMs,
        rate,
        tenths: peak.timeline,
        p50: percentile(peak.latenciesMs, 50),
        p95: percentile(peak.latenciesMs, 95),
        halfLoad: {
          rate: paced.eventsPerSec,
          p50: percentile(paced.latenciesMs, 50),
          p95: percentile(paced.latenciesMs, 95),
          p99: percentile(paced.latenciesMs, 99),
        },
        serviceRssPeak: rssPeak,
        serviceCpuUsPerEvent: (cpu / peak.events) * 1e6,
        dedupe: { filter: answers('filter'), lookup: answers('lookup'), recent: answers('recent') },
      };
    } finally {
      clearInterval(sampler);
    }
  } finally {
    const stop = await svc.stop();
    if (stop.code !== 0) log(`service exited with ${stop.code}`);
  }
}

async function verify(dir: string, expected: number, withBytes: boolean) {
  const engine = openEngine(dir);
  try {
    const [ev] = await rows<{ n: string; keys: string; q: string }>(
      engine,
      'SELECT count() AS n, uniqExact(idempotency_key) AS keys, toString(sum(quantity)) AS q FROM events',
    );
    const [pc] = await rows<{ n: string; q: string }>(engine, 'SELECT sum(events) AS n, toString(sum(quantity)) AS q FROM usage_period_counters');
    const [kc] = await rows<{ n: string }>(engine, 'SELECT count() AS n FROM event_keys FINAL');
    check(`${expected}: events stored once each`, Number(ev!.n) === expected && Number(ev!.keys) === expected, `${ev!.n} rows, ${ev!.keys} keys`);
    check(`${expected}: period counters equal the events`, pc!.q === ev!.q && Number(pc!.n) === expected, `${pc!.n} / ${pc!.q} vs ${ev!.q}`);
    check(`${expected}: event_keys holds every key`, Number(kc!.n) === expected, kc!.n);
    if (!withBytes) return undefined;
    const optimizeMs = await optimizeAll(engine);
    await engine.command({ query: 'OPTIMIZE TABLE event_keys FINAL' });
    const parts = await rows<{ table: string; rows: string; bytes: string }>(
      engine,
      `SELECT table, sum(rows) AS rows, sum(bytes_on_disk) AS bytes FROM system.parts
       WHERE active AND database = currentDatabase() AND table IN ('events', 'event_keys', 'usage_hourly_counters', 'usage_period_counters')
       GROUP BY table`,
    );
    const bytes = Object.fromEntries(parts.map((p) => [p.table, Number(p.bytes) / expected]));
    return { optimizeMs, bytesPerEvent: bytes };
  } finally {
    await engine.close();
  }
}

async function main() {
  const startedAt = new Date().toISOString();
  const loadAvgStart = os.loadavg();
  const list = benchEvents(0, events + pacedReserve);
  const rawDir = mkdtempSync(path.join(os.tmpdir(), 'stripemeter-growth-raw-'));
  const raw = await rawRate(rawDir, list.slice(0, events));
  rmSync(rawDir, { recursive: true, force: true });
  log(`raw insert: ${fmt(raw)} rows/s`);

  const runs: Array<Run & { bytes?: Awaited<ReturnType<typeof verify>> }> = [];
  for (const [i, stored] of storedSizes.entries()) {
    // Fresh keys per run: the runs must not see each other's keys as duplicates (they use separate data anyway).
    const runList = i === 0 ? list : list.map((e) => ({ ...e, idempotencyKey: randomUUID() }));
    const run = await measure(stored, runList);
    const last = i === storedSizes.length - 1;
    const bytes = await verify(run.dir, stored + run.ingested, last && optimize).catch(
      (err: unknown) => {
        log(`verify failed: ${String(err)}`);
        return undefined;
      },
    );
    runs.push({ ...run, bytes });
    if (!keep) rmSync(run.tmp, { recursive: true, force: true });
  }

  section('HTTP ingest by events already stored (random UUID keys, 1,000 per request)');
  line('Raw engine insert, 20,000-row blocks (rows/s)', fmt(raw));
  for (const r of runs) {
    line(
      `${fmt(r.stored)} stored: rate`,
      `${fmt(r.rate)} events/s (${fmt(r.rate / raw, 3)}x raw); first/last tenth ${fmt(r.tenths[0] ?? NaN)} / ${fmt(r.tenths.at(-1) ?? NaN)}; ` +
        `p50 ${fmt(r.p50, 1)} ms, p95 ${fmt(r.p95, 1)} ms`,
    );
    line(`${fmt(r.stored)} stored: half load`, `${fmt(r.halfLoad.rate)} events/s, p50 ${fmt(r.halfLoad.p50, 1)} ms, p95 ${fmt(r.halfLoad.p95, 1)} ms, p99 ${fmt(r.halfLoad.p99, 1)} ms`);
    line(
      `${fmt(r.stored)} stored: start-up`,
      `${fmt(r.startFullMs)} ms with a full key filter rebuild, ${fmt(r.startSnapshotMs)} ms from the snapshot (spawn to ready)`,
    );
    line(
      `${fmt(r.stored)} stored: service`,
      `RSS peak ${mib(r.serviceRssPeak)}, CPU ${fmt(r.serviceCpuUsPerEvent, 1)} µs/event; dedupe answers: filter ${fmt(r.dedupe.filter)}, lookup ${fmt(r.dedupe.lookup)}, recent ${fmt(r.dedupe.recent)}`,
    );
    if (r.bytes) {
      line(
        `${fmt(r.stored)} stored: bytes/event after merges`,
        Object.entries(r.bytes.bytesPerEvent).map(([t, b]) => `${t} ${fmt(b, 1)}`).join(', '),
      );
    }
  }
  const base = runs[0]!;
  for (const r of runs.slice(1)) line(`Rate at ${fmt(r.stored)} / rate at ${fmt(base.stored)} stored`, fmt(r.rate / base.rate, 3));
  line('Checks', checksLine());
  printReport('stripemeter ingest growth benchmark');
  writeResults(root, 'ingest-growth', startedAt, loadAvgStart, { settings: { storedSizes, events, concurrency, latencySeconds }, raw, runs });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
