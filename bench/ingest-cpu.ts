/**
 * CPU per event of the ingest request path without HTTP or storage: body text to JSON, the ingest handler (auth
 * checks, per-event validation, results, metrics) with a writer that accepts every row, and the response to JSON.
 * Also times serialising the prepared rows as the writer does (JSON.stringify per row), which it pays before its INSERT.
 *
 *   npm run build && node dist/bench/ingest-cpu.js                      # this build
 *   node dist/bench/ingest-cpu.js /tmp/before/dist/src dist/src         # compare compiled trees, rounds interleaved
 *
 * Environment: BENCH_ROUNDS (7), BENCH_BATCHES (40 bodies of 1,000 events per round), BENCH_TIME_ZONE (UTC: the
 * tenant's zone).
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { EventGenerator } from './lib/events.js';

const env = (name: string, fallback: number) => Number(process.env[name] || fallback);
const rounds = env('BENCH_ROUNDS', 7);
const batches = env('BENCH_BATCHES', 40);
const timeZone = process.env.BENCH_TIME_ZONE || 'UTC';
const batchSize = 1000;

const here = path.dirname(fileURLToPath(import.meta.url));
const roots = process.argv.length > 2 ? process.argv.slice(2).map((r) => path.resolve(r)) : [path.resolve(here, '../src')];

const gen = new EventGenerator({ tenantId: 'demo', customers: 3000, spreadMs: 4 * 3600_000, nowMs: Date.now(), seed: 0x5eed });
const bodies: Buffer[] = [];
for (let b = 0, seq = 0; b < batches; b++) {
  const events = Array.from({ length: batchSize }, () => gen.event(seq++).event);
  bodies.push(Buffer.from(JSON.stringify({ events })));
}

type Handler = (ctx: unknown) => Promise<void>;
type Impl = { root: string; handler: Handler; rows: object[] };

async function load(root: string): Promise<Impl> {
  const { ingestEvents } = await import(pathToFileURL(path.join(root, 'http/routes/events/ingest.js')).href);
  const { createMetrics } = await import(pathToFileURL(path.join(root, 'ops/metrics.js')).href);
  const impl: Impl = { root, handler: undefined as unknown as Handler, rows: [] };
  const tenant = { id: 'demo', timezone: timeZone, created_at: '' };
  const deps = {
    config: { eventRetentionMs: 90 * 86400_000 },
    metrics: createMetrics(),
    tenants: { get: async (id: string) => (id === 'demo' ? tenant : undefined), timeZoneOf: () => timeZone },
    // Sums without meters, and a disk with room: what the handler asks of them costs nothing here.
    meters: { load: async () => {}, cached: () => undefined },
    disk: { refusal: () => undefined },
    writer: {
      write: async (rows: object[]) => {
        impl.rows = rows;
        return rows.map(() => ({ status: 'accepted' }));
      },
      known: async (rows: object[]) => rows.map(() => false),
    },
  };
  impl.handler = ingestEvents(deps);
  return impl;
}

const principal = { keyId: 'key_bench', tenantId: 'demo', scopes: new Set(['ingest']), root: false };

type Times = { parse: number; handler: number; response: number; rowJson: number };

async function round(impl: Impl): Promise<Times> {
  const t: Times = { parse: 0, handler: 0, response: 0, rowJson: 0 };
  for (const body of bodies) {
    const t0 = performance.now();
    const parsed = JSON.parse(body.toString('utf8'));
    const t1 = performance.now();
    const ctx = { state: { requestId: 'bench', principal, body: parsed }, body: undefined as unknown, is: () => false };
    await impl.handler(ctx);
    const t2 = performance.now();
    JSON.stringify(ctx.body);
    const t3 = performance.now();
    let text = '';
    for (const r of impl.rows) text += JSON.stringify(r) + '\n';
    const t4 = performance.now();
    if (text.length === 0 || impl.rows.length !== batchSize) throw new Error(`${impl.root}: expected ${batchSize} rows`);
    t.parse += t1 - t0;
    t.handler += t2 - t1;
    t.response += t3 - t2;
    t.rowJson += t4 - t3;
  }
  return t;
}

const impls = await Promise.all(roots.map(load));
for (const impl of impls) await round(impl); // warm-up
const results = new Map<Impl, Times[]>(impls.map((i) => [i, []]));
for (let r = 0; r < rounds; r++) for (const impl of impls) results.get(impl)!.push(await round(impl));

const events = batches * batchSize;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const us = (ms: number) => ((ms * 1000) / events).toFixed(2).padStart(6);
console.log(`µs per event, median of ${rounds} rounds of ${events} events (zone ${timeZone}); min-max of the total in brackets`);
console.log('parse   handler  response  | parse+handler+response       | writer row JSON');
for (const impl of impls) {
  const ts = results.get(impl)!;
  const totals = ts.map((t) => t.parse + t.handler + t.response);
  console.log(
    `${us(median(ts.map((t) => t.parse)))}  ${us(median(ts.map((t) => t.handler)))}  ${us(median(ts.map((t) => t.response)))}    |` +
      ` ${us(median(totals))} [${us(Math.min(...totals)).trim()}-${us(Math.max(...totals)).trim()}]` +
      `        | ${us(median(ts.map((t) => t.rowJson)))}   ${impl.root}`,
  );
}
