/**
 * Bulk import benchmark (not a timed test): `stripemeter import` of an NDJSON file against the HTTP ingest rate in
 * the same run, and the importer's peak RSS.
 *
 *   npm run bench:import                      # 1,000,000 events
 *   BENCH_EVENTS=200000 npm run bench:import  # quick run
 *
 * One service in a child process (`node dist/src/cli.js start`, embedded engine, its own data directory). After a
 * warm-up: HTTP ingest of half the baseline events (pre-built 1,000-event bodies, BENCH_CONCURRENCY in flight, as
 * `npm run bench:ingest` sends them), then `node dist/src/cli.js import FILE` of BENCH_EVENTS fresh events (its
 * defaults: 5,000 per request, 4 in flight), then the other half of the baseline. The table grows through the run,
 * so the baseline brackets the import and its rate is over both halves. The importer's VmHWM is sampled every 50 ms.
 *
 * Environment: BENCH_EVENTS (1000000), BENCH_CONCURRENCY (12), BENCH_IMPORT_ARGS (extra `import` arguments),
 * BENCH_KEEP=1 keeps the temporary directory.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventGenerator } from './lib/events.js';
import { IngestClient } from './lib/http.js';
import { memoryOf, runDirectory, startServiceChild, type ServiceChild } from './lib/service.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const env = (name: string, fallback: number) => {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number`);
  return n;
};

const batchSize = 1000;
const totalEvents = Math.ceil(env('BENCH_EVENTS', 1_000_000) / (2 * batchSize)) * 2 * batchSize;
const concurrency = env('BENCH_CONCURRENCY', 12);
const importArgs = (process.env.BENCH_IMPORT_ARGS || '').split(' ').filter(Boolean);
const keep = process.env.BENCH_KEEP === '1';

const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const mib = (bytes: number) => `${fmt(bytes / 1024 / 1024, 0)} MiB`;

const gen = new EventGenerator({ tenantId: 'demo', customers: 3000, spreadMs: 4 * 3600_000, nowMs: Date.now(), seed: 0x1a2b });

function bodies(from: number, count: number): Buffer[] {
  const out: Buffer[] = [];
  for (let seq = from; seq < from + count; seq += batchSize) {
    const events = Array.from({ length: batchSize }, (_, i) => gen.event(seq + i).event);
    out.push(Buffer.from(JSON.stringify({ events })));
  }
  return out;
}

async function writeNdjson(file: string, from: number, count: number): Promise<void> {
  const out = createWriteStream(file);
  for (let seq = from; seq < from + count; seq++) {
    if (!out.write(`${JSON.stringify(gen.event(seq).event)}\n`)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r) => out.end(() => r()));
}

async function runImport(svc: ServiceChild, file: string): Promise<{ seconds: number; hwm: number; out: string; code: number | null }> {
  const started = performance.now();
  const child = spawn(process.execPath, [path.join(root, 'dist/src/cli.js'), 'import', file, ...importArgs], {
    env: { PATH: process.env.PATH, STRIPEMETER_URL: `http://127.0.0.1:${svc.port}`, STRIPEMETER_KEY: svc.adminKey },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => process.stderr.write(`[import] ${d}`));
  let hwm = 0;
  const sampler = setInterval(() => {
    try {
      const sample = memoryOf(child.pid!).hwm;
      // A process that has exited (a zombie until reaped) has no VmHWM line.
      if (Number.isFinite(sample)) hwm = Math.max(hwm, sample);
    } catch {
      // exited between samples
    }
  }, 50);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearInterval(sampler);
  return { seconds: (performance.now() - started) / 1000, hwm, out, code };
}

async function main() {
  let svc: ServiceChild | undefined;
  const { tmp, cleanup } = runDirectory('stripemeter-bench-import-', keep, () => svc);
  const svcDir = path.join(tmp, 'service');
  const file = path.join(tmp, 'events.ndjson');
  try {
    const half = totalEvents / 2;
    const warmup = bodies(0, 20 * batchSize);
    const before = bodies(100_000_000, half);
    const after = bodies(200_000_000, half);
    await writeNdjson(file, 300_000_000, totalEvents);
    log(`${fmt(totalEvents)} events in ${file} (${mib(statSync(file).size)}); ${fmt(totalEvents)} baseline events in bodies`);

    mkdirSync(svcDir);
    svc = await startServiceChild({ root, dataDir: svcDir });
    const client = new IngestClient(svc.port, svc.adminKey);
    await client.closedLoop(warmup, batchSize, concurrency);

    const a = await client.closedLoop(before, batchSize, concurrency);
    log(`HTTP ingest, first half: ${fmt(a.eventsPerSec)} events/s`);
    const imp = await runImport(svc, file);
    log(`import: ${imp.out.trim()}`);
    const b = await client.closedLoop(after, batchSize, concurrency);
    log(`HTTP ingest, second half: ${fmt(b.eventsPerSec)} events/s`);

    const httpRate = (a.events + b.events) / ((a.elapsedMs + b.elapsedMs) / 1000);
    const importRate = totalEvents / imp.seconds;
    const accepted = Number(/(\d+) accepted/.exec(imp.out)?.[1] ?? NaN);
    const checks = { importExit0: imp.code === 0, allAccepted: accepted === totalEvents, httpAccepted: a.accepted + b.accepted === totalEvents };
    const ok = Object.values(checks).every(Boolean);
    const result = {
      startedAt: new Date().toISOString(),
      events: totalEvents,
      cpus: os.cpus().length,
      http: { eventsPerSec: httpRate, firstHalf: a.eventsPerSec, secondHalf: b.eventsPerSec, concurrency, batchSize },
      import: { eventsPerSec: importRate, seconds: imp.seconds, peakRssBytes: imp.hwm, fileBytes: statSync(file).size, args: importArgs, summary: imp.out.trim() },
      ratio: importRate / httpRate,
      checks,
    };
    const lines: Array<[string, string]> = [
      ['HTTP ingest (events/s)', `${fmt(httpRate)}  (${fmt(totalEvents)} events around the import, ${concurrency} in flight, ${batchSize} per request)`],
      ['stripemeter import (events/s)', `${fmt(importRate)}  (${fmt(totalEvents)} NDJSON lines, ${fmt(imp.seconds, 1)} s)`],
      ['Import / HTTP ingest', `${fmt(result.ratio, 2)}x (target >= 0.9x)`],
      ['Importer peak RSS', mib(imp.hwm)],
      ['Checks', ok ? 'all passed' : `FAILED: ${Object.entries(checks).filter(([, v]) => !v).map(([k]) => k).join(', ')}`],
    ];
    const width = Math.max(...lines.map(([k]) => k.length));
    console.log('\nstripemeter import benchmark');
    for (const [k, v] of lines) console.log(`${k.padEnd(width)}  ${v}`);
    const outDir = path.join(root, 'bench', 'results');
    mkdirSync(outDir, { recursive: true });
    const out = path.join(outDir, `import-${result.startedAt.replace(/[:.]/g, '-')}.json`);
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`results: ${path.relative(root, out)}`);
    await svc.stop();
    svc = undefined;
    if (!ok) process.exitCode = 1;
  } finally {
    cleanup();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
