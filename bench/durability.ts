/**
 * Cost of INGEST_DURABILITY=fsync against none (not a timed test). See docs/durability.md.
 *
 *   npm run bench:durability
 *
 * 1. Engine, in this process: the service's migrations and the service's start-up durability step, then
 *    BENCH_ROWS rows (built by the service's prepareEvent) inserted with raw `INSERT INTO events` in blocks of each
 *    size of BENCH_BLOCKS, once per mode per round, the modes alternating so both see the same table and page cache
 *    state; the tables are truncated before each run. The ratio fsync/none is taken within each round.
 * 0. The disk: median time of one 4 KiB write + fdatasync in the data directory. The fsync mode adds about 48 of
 *    those to each ingest commit (events 20, each counter table 12-14, watermarks 12 when written; counted with
 *    strace), so this figure carries the cost to another disk when the measured rates drown in noise.
 * 2. HTTP: the service in a child process per mode (fresh data directory each), BENCH_HTTP_EVENTS events in
 *    1,000-event requests, BENCH_CONCURRENCY in flight (closed loop).
 *
 * Environment: BENCH_ROWS (200000), BENCH_BLOCKS (5000,20000), BENCH_ROUNDS (3), BENCH_HTTP_EVENTS (100000, 0 skips),
 * BENCH_CONCURRENCY (12), BENCH_KEEP=1 keeps the temporary data directories.
 */
import { closeSync, fdatasyncSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareEvent } from '../src/ingest/event.js';
import { applyIngestDurability, durabilityModes, type IngestDurability } from '../src/storage/durability.js';
import { EventGenerator } from './lib/events.js';
import { migrateEngine, openEngine, rawInsert, rows, truncateEvents } from './lib/engine.js';
import { IngestClient, percentile } from './lib/http.js';
import { startServiceChild } from './lib/service.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const env = (name: string, fallback: number) => {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number >= 0`);
  return n;
};
const rowCount = env('BENCH_ROWS', 200_000);
const blockSizes = (process.env.BENCH_BLOCKS || '5000,20000').split(',').map(Number);
const rounds = env('BENCH_ROUNDS', 3);
const httpEvents = Math.ceil(env('BENCH_HTTP_EVENTS', 100_000) / 1000) * 1000;
const concurrency = env('BENCH_CONCURRENCY', 12);
const keep = process.env.BENCH_KEEP === '1';

const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

const gen = new EventGenerator({ tenantId: 'demo', customers: 3000, spreadMs: 4 * 3600_000, nowMs: Date.now(), seed: 0xd15c });

function rowLines(count: number): string[] {
  const ctx = { nowMs: Date.now(), retentionMs: 90 * 86400_000, timeZoneOf: () => 'UTC' };
  const lines: string[] = [];
  for (let seq = 0; seq < count; seq++) {
    const r = prepareEvent(gen.event(seq).event, ctx);
    if (!r.ok) throw new Error(`generated event ${seq} is invalid: ${r.error.message}`);
    lines.push(JSON.stringify(r.row));
  }
  return lines;
}

function fdatasyncMs(dir: string, n = 200): number {
  mkdirSync(dir, { recursive: true });
  const fd = openSync(path.join(dir, 'fsync-probe'), 'w');
  const page = Buffer.alloc(4096, 1);
  const times: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      writeSync(fd, page, 0, page.length, i * page.length);
      const t0 = performance.now();
      fdatasyncSync(fd);
      times.push(performance.now() - t0);
    }
  } finally {
    closeSync(fd);
  }
  return median(times);
}

type EngineRun = { round: number; blockRows: number; mode: IngestDurability; rowsPerSec: number; msPerBlock: number };

async function engineRuns(dataDir: string): Promise<EngineRun[]> {
  const lines = rowLines(rowCount);
  const client = openEngine(dataDir);
  const runs: EngineRun[] = [];
  try {
    await migrateEngine(client);
    for (let round = 1; round <= rounds; round++) {
      for (const blockRows of blockSizes) {
        const blocks: string[] = [];
        for (let i = 0; i < lines.length; i += blockRows) blocks.push(lines.slice(i, i + blockRows).join('\n') + '\n');
        const modes = round % 2 === 1 ? [...durabilityModes] : [...durabilityModes].reverse();
        for (const mode of modes) {
          await truncateEvents(client);
          await applyIngestDurability(client, mode, {});
          const t0 = performance.now();
          for (const block of blocks) await rawInsert(client, block);
          const ms = performance.now() - t0;
          const [stored] = await rows<{ n: string }>(client, 'SELECT count() AS n FROM events');
          if (Number(stored!.n) !== rowCount) throw new Error(`expected ${rowCount} rows, found ${stored!.n}`);
          const run = { round, blockRows, mode, rowsPerSec: rowCount / (ms / 1000), msPerBlock: ms / blocks.length };
          runs.push(run);
          log(`engine round ${round}, ${fmt(blockRows)}-row blocks, ${mode}: ${fmt(run.rowsPerSec)} rows/s, ${fmt(run.msPerBlock, 1)} ms per block`);
        }
      }
    }
  } finally {
    await client.close();
  }
  return runs;
}

type HttpRun = { mode: IngestDurability; eventsPerSec: number; p50Ms: number; p99Ms: number };

async function httpRun(mode: IngestDurability, bodies: Buffer[], dataDir: string): Promise<HttpRun> {
  const svc = await startServiceChild({ root, dataDir, env: { INGEST_DURABILITY: mode } });
  try {
    const client = new IngestClient(svc.port, svc.adminKey);
    const r = await client.closedLoop(bodies, 1000, concurrency);
    if (r.accepted !== bodies.length * 1000) throw new Error(`${mode}: accepted ${r.accepted} of ${bodies.length * 1000}`);
    const run = { mode, eventsPerSec: r.eventsPerSec, p50Ms: percentile(r.latenciesMs, 50), p99Ms: percentile(r.latenciesMs, 99) };
    log(`http ${mode}: ${fmt(run.eventsPerSec)} events/s, p50 ${fmt(run.p50Ms, 1)} ms, p99 ${fmt(run.p99Ms, 1)} ms`);
    return run;
  } finally {
    await svc.stop();
  }
}

async function main() {
  const base = mkdtempSync(path.join(os.tmpdir(), 'stripemeter-bench-durability-'));
  try {
    const diskFsyncMs = fdatasyncMs(path.join(base, 'probe'));
    log(`disk: one 4 KiB write + fdatasync takes ${fmt(diskFsyncMs, 3)} ms (median)`);
    log(`engine: ${fmt(rowCount)} rows, blocks ${blockSizes.join(', ')}, ${rounds} rounds, data in ${base}`);
    const engine = await engineRuns(path.join(base, 'engine'));
    const summary = blockSizes.map((blockRows) => {
      const of = (mode: IngestDurability, round: number) => engine.find((r) => r.blockRows === blockRows && r.mode === mode && r.round === round)!;
      const perRound = Array.from({ length: rounds }, (_, i) => of('fsync', i + 1).rowsPerSec / of('none', i + 1).rowsPerSec);
      const rate = (mode: IngestDurability) => median(engine.filter((r) => r.blockRows === blockRows && r.mode === mode).map((r) => r.rowsPerSec));
      return { blockRows, noneRowsPerSec: rate('none'), fsyncRowsPerSec: rate('fsync'), ratioPerRound: perRound, ratio: median(perRound) };
    });
    const http: HttpRun[] = [];
    if (httpEvents > 0) {
      const bodies: Buffer[] = [];
      for (let b = 0; b < httpEvents / 1000; b++) {
        bodies.push(Buffer.from(JSON.stringify({ events: Array.from({ length: 1000 }, (_, i) => gen.event(b * 1000 + i).event) })));
      }
      for (const mode of durabilityModes) http.push(await httpRun(mode, bodies, path.join(base, `http-${mode}`)));
    }

    console.log(`\ndisk: 4 KiB write + fdatasync ${fmt(diskFsyncMs, 3)} ms (median of 200)`);
    console.log('engine, raw INSERT INTO events (counter views included):');
    for (const s of summary) {
      console.log(
        `  ${fmt(s.blockRows)}-row blocks: none ${fmt(s.noneRowsPerSec)} rows/s, fsync ${fmt(s.fsyncRowsPerSec)} rows/s, ` +
          `fsync/none ${fmt(s.ratio, 2)} (per round: ${s.ratioPerRound.map((x) => fmt(x, 2)).join(', ')})`,
      );
    }
    if (http.length === 2) {
      console.log(`http, ${fmt(httpEvents)} events in 1,000-event requests, ${concurrency} in flight:`);
      for (const h of http) console.log(`  ${h.mode}: ${fmt(h.eventsPerSec)} events/s, p50 ${fmt(h.p50Ms, 1)} ms, p99 ${fmt(h.p99Ms, 1)} ms`);
      console.log(`  fsync/none ${fmt(http[1]!.eventsPerSec / http[0]!.eventsPerSec, 2)}`);
    }
    const outDir = path.join(root, 'bench', 'results');
    mkdirSync(outDir, { recursive: true });
    const file = path.join(outDir, `durability-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    const config = { rows: rowCount, blocks: blockSizes, rounds, httpEvents, concurrency, cpus: os.cpus().length };
    writeFileSync(file, JSON.stringify({ config, diskFsyncMs, engine, summary, http }, null, 2) + '\n');
    console.log(`results: ${path.relative(root, file)}`);
  } finally {
    if (!keep) rmSync(base, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
