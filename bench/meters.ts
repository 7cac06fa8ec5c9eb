/**
 * Meters benchmark (not a timed test): the cost of meters at ingest, and the grouped usage query on 10M events.
 *
 *   npm run bench:meters
 *   BENCH_EVENTS=100000 BENCH_QUERY_EVENTS=1000000 npm run bench:meters   # quick run
 *
 * 1. Ingest, through the service in a child process (`node dist/src/cli.js start`, embedded engine): batches of
 *    1,000 events closed loop (BENCH_CONCURRENCY in flight), alternating in the same run between events of a metric
 *    without a meter (sum only: the usage counters) and events spread over three metered metrics (a sum with two
 *    dimensions, a unique_count, a max: the usage counters plus the meter states). Each kind runs BENCH_ROUNDS times
 *    (BENCH_EVENTS events each); the ratio is of the medians. Target: metered >= 0.7x sum only.
 * 2. The grouped query, in this process on its own data directory: BENCH_QUERY_EVENTS events of a sum meter with two
 *    dimensions over 30 days (BENCH_CUSTOMERS customers, 4 models, 3 regions), generated inside the engine and counted
 *    by the same materialized views as ingest, then the query of GET /v1/usage/query (src/meters/usage.ts) by
 *    customer and model: per day in the tenant's zone and per billing period (daily states), and per day in another
 *    zone (hourly states). Median of 5 after a warm-up. Target: <= 0.5 s.
 *
 * Environment: BENCH_EVENTS (200000), BENCH_ROUNDS (2), BENCH_CONCURRENCY (8), BENCH_QUERY_EVENTS (10000000),
 * BENCH_CUSTOMERS (200), BENCH_PHASES (ingest,query: run only some), BENCH_KEEP=1 keeps the temporary data directories.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrateEngine, openEngine } from './lib/engine.js';
import { IngestClient } from './lib/http.js';
import { check, env, fmt, line, log, median, ms, printReport, ratio, section, timeIt, writeResults, x } from './lib/report.js';
import { startServiceChild } from './lib/service.js';
import { groupedUsage, type GroupedSource } from '../src/storage/queries/meters.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const batchSize = 1000;
const events = Math.ceil(env('BENCH_EVENTS', 200_000) / batchSize) * batchSize;
const rounds = env('BENCH_ROUNDS', 2);
const concurrency = env('BENCH_CONCURRENCY', 8);
const queryEvents = env('BENCH_QUERY_EVENTS', 10_000_000);
const customers = env('BENCH_CUSTOMERS', 200);
const keep = process.env.BENCH_KEEP === '1';
const phases = new Set((process.env.BENCH_PHASES || 'ingest,query').split(','));

const models = ['small', 'medium', 'large', 'xl'];
const regions = ['eu', 'us', 'ap'];

/** Batches of `count` events from `from` on: `metered` spreads them over the three metered metrics. */
function bodies(from: number, count: number, metered: boolean): Buffer[] {
  const out: Buffer[] = [];
  const now = Date.now();
  for (let b = 0; b < count; b += batchSize) {
    const batch = [];
    for (let i = b; i < b + batchSize; i++) {
      const seq = from + i;
      const metric = metered ? ['m_tokens', 'm_users', 'm_peak'][seq % 3]! : 'm_plain';
      batch.push({
        tenantId: 'demo',
        metric,
        customerRef: `cus_${seq % customers}`,
        quantity: String((seq % 977) / 10),
        ts: new Date(now - (seq % 3_600_000)).toISOString(),
        idempotencyKey: `k-${seq}`,
        meta: { model: models[seq % 4]!, region: regions[seq % 3]!, user: `u${seq % 5000}` },
      });
    }
    out.push(Buffer.from(JSON.stringify({ events: batch })));
  }
  return out;
}

async function post(port: number, key: string, urlPath: string, body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const req = http.request(
      { host: '127.0.0.1', port, method: 'POST', path: urlPath, headers: { 'content-type': 'application/json', 'content-length': data.length, authorization: `Bearer ${key}` } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

async function ingestPhase() {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'stripemeter-bench-meters-ingest-'));
  const svc = await startServiceChild({ root, dataDir, env: { INGEST_KEY_FILTER: 'on' } });
  try {
    for (const meter of [
      { metric: 'm_tokens', aggregation: 'sum', dimensions: ['model', 'region'] },
      { metric: 'm_users', aggregation: 'unique_count', uniqueBy: 'user' },
      { metric: 'm_peak', aggregation: 'max' },
    ]) {
      const status = await post(svc.port, svc.adminKey, '/v1/meters', { tenantId: 'demo', ...meter });
      if (status !== 201) throw new Error(`defining ${meter.metric} answered ${status}`);
    }
    const client = new IngestClient(svc.port, svc.adminKey);
    // Warm-up: both kinds once, small.
    await client.closedLoop(bodies(10_000_000, 20 * batchSize, false), batchSize, concurrency);
    await client.closedLoop(bodies(20_000_000, 20 * batchSize, true), batchSize, concurrency);
    const rates = { plain: [] as number[], metered: [] as number[] };
    let next = 0;
    for (let r = 0; r < rounds; r++) {
      for (const metered of [false, true]) {
        const b = bodies(next, events, metered);
        next += events;
        const result = await client.closedLoop(b, batchSize, concurrency);
        if (result.accepted !== events) throw new Error(`expected ${events} accepted, got ${result.accepted}`);
        (metered ? rates.metered : rates.plain).push(result.eventsPerSec);
        log(`round ${r + 1} ${metered ? 'metered ' : 'sum only'}: ${fmt(result.eventsPerSec)} events/s`);
      }
    }
    return { plain: median(rates.plain), metered: median(rates.metered), rates };
  } finally {
    await svc.stop();
    if (!keep) rmSync(dataDir, { recursive: true, force: true });
  }
}

async function queryPhase() {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'stripemeter-bench-meters-query-'));
  const client = openEngine(dataDir);
  try {
    await migrateEngine(client);
    const t0 = performance.now();
    // October 2026 from the 1st to the 31st: 30 days. The rows ingest would write, generated by the engine.
    await client.command({
      query: `
        INSERT INTO events (tenant_id, idempotency_key, metric, customer_ref, quantity, ts, period, meta, payload_hash,
          aggregation, dimensions, unique_value)
        SELECT 'demo', concat('k-', toString(number)), 'm_tokens', concat('cus_', toString(cityHash64(number) % {customers:UInt32})),
          toDecimal128(number % 977, 6) / 10, ts, formatDateTime(ts, '%Y-%m', 'UTC'),
          map('model', m, 'region', r), substring(hex(cityHash64(number)), 1, 16), 'sum', map('model', m, 'region', r), ''
        FROM (
          SELECT number,
            toDateTime64('2026-10-01 00:00:00', 3, 'UTC') + toIntervalMillisecond(intDiv(number * 2592000000, {n:UInt64})) AS ts,
            ['small', 'medium', 'large', 'xl'][(cityHash64(number, 1) % 4) + 1] AS m,
            ['eu', 'us', 'ap'][(cityHash64(number, 2) % 3) + 1] AS r
          FROM numbers({n:UInt64})
        )`,
      query_params: { n: queryEvents, customers },
    });
    const seedMs = performance.now() - t0;
    for (const table of ['meter_hourly_states', 'meter_daily_states']) await client.command({ query: `OPTIMIZE TABLE ${table} FINAL` });
    const [counts] = await (
      await client.query({
        query: "SELECT (SELECT count() FROM events) AS events, (SELECT count() FROM meter_hourly_states) AS stateRows, (SELECT count() FROM meter_daily_states) AS dailyRows",
        format: 'JSONEachRow',
      })
    ).json<{ events: string; stateRows: string; dailyRows: string }>();
    log(`seeded ${counts!.events} events in ${fmt(seedMs / 1000, 1)} s; ${counts!.stateRows} hourly and ${counts!.dailyRows} daily state rows`);
    const grouped = (source: GroupedSource, input: Parameters<(typeof groupedUsage)['events']>[1]) => groupedUsage[source](client, input);
    // As GET /v1/usage/query routes them: days in the tenant's zone (UTC here) and billing periods from the daily
    // states; days in another zone from the hourly states.
    const ask = (window: 'P1D' | 'billing_period', source: 'daily' | 'states', timezone: string) => async () =>
      (
        await grouped(source, {
          tenantId: 'demo',
          metric: 'm_tokens',
          aggregation: 'sum',
          from: new Date('2026-10-01T00:00:00Z'),
          to: new Date('2026-10-31T00:00:00Z'),
          window,
          timezone,
          byCustomer: true,
          groupBy: ['model'],
          filters: [],
          limit: 1_000_000,
        })
      ).length;
    const daily = await timeIt(ask('P1D', 'daily', 'UTC'), 5, true);
    const period = await timeIt(ask('billing_period', 'daily', 'UTC'), 5, true);
    const hourly = await timeIt(ask('P1D', 'states', 'America/New_York'), 5, true);
    return { seedMs, events: Number(counts!.events), stateRows: Number(counts!.stateRows), dailyRows: Number(counts!.dailyRows), daily, period, hourly };
  } finally {
    await client.close();
    if (!keep) rmSync(dataDir, { recursive: true, force: true });
  }
}

const startedAt = new Date().toISOString();
const loadAvgStart = os.loadavg();
const figures: Record<string, unknown> = {};
if (phases.has('ingest')) {
  log(`ingest: ${rounds} rounds of ${fmt(events)} events per kind, ${concurrency} requests in flight`);
  const ingest = await ingestPhase();
  const ingestRatio = ratio(ingest.metered, ingest.plain);
  Object.assign(figures, { ingest, ingestRatio });
  section('Ingest');
  line('sum only (median)', `${fmt(ingest.plain)} events/s`);
  line('3 meters (median)', `${fmt(ingest.metered)} events/s`);
  line('ratio', x(ingestRatio));
  check('ingest with meters >= 0.7x sum only', ingestRatio >= 0.7, x(ingestRatio));
}
if (phases.has('query')) {
  log(`query: ${fmt(queryEvents)} events over 30 days`);
  const query = await queryPhase();
  figures.query = query;
  section('Grouped query (customer x model, 30 days)');
  line('events', fmt(query.events));
  line('hourly / daily state rows', `${fmt(query.stateRows)} / ${fmt(query.dailyRows)}`);
  line('P1D, tenant zone (daily states)', `${ms(query.daily.medianMs)} (${fmt(query.daily.rows)} rows)`);
  line('billing_period (daily states)', `${ms(query.period.medianMs)} (${fmt(query.period.rows)} rows)`);
  line('P1D, another zone (hourly states)', `${ms(query.hourly.medianMs)} (${fmt(query.hourly.rows)} rows)`);
  check('grouped query <= 0.5 s', query.daily.medianMs <= 500, ms(query.daily.medianMs));
}
line('load average at start', loadAvgStart.map((l) => fmt(l, 2)).join(' '));
printReport('meters');
writeResults(root, 'meters', startedAt, loadAvgStart, figures);
