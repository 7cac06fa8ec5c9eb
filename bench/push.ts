/**
 * Push benchmark (not a timed test).
 *
 *   npm run bench:push
 *   BENCH_PUSH_N=1000 BENCH_DIFF_CUSTOMERS=10000 npm run bench:push   # quick run
 *
 * Part 1 — the push diff (sql/push/push_deltas.sql through PushLedger.diff) over 100,000 (customer, period)
 *   counters in embedded storage, against a baseline measured in the same run: the bare aggregation of the same
 *   counters fetched the same way (JSONEachRow through the client). Target: <= 1 s. Also: where the diff's time
 *   goes (engine only / + JSON / + zod), the alsoKeys variant the cycle uses when intents are open, openIntents,
 *   and the all-tenants path (tenantId '') with 4 tenants.
 * Part 2 — PushEngine.cycle against the in-process Stripe sandbox (memory only), built as src/service.ts builds
 *   it, for each configured ceiling (StripeLimiter rate), against a baseline: raw meterEvents.create calls with
 *   16 concurrent callers, no limiter, no ledger. Every cycle is checked: acked = N, the sandbox's totals equal
 *   floor(local) for every customer, and the diff afterwards is empty. Diagnostics: the same cycle with the
 *   ledger calls timed, and with the per-ack ledger writes skipped; the ledger writes on their own.
 *
 * Environment: BENCH_DIFF_CUSTOMERS (50000; x 2 periods = counters), BENCH_DIFF_ADJUSTMENTS (4000),
 * BENCH_RUNS (5), BENCH_PUSH_N (3000), BENCH_PUSH_CEILINGS (100,1000), BENCH_PUSH_DIAG (1; 0 skips the
 * diagnostics), BENCH_TENANTS (4; 1 skips the all-tenants variant), BENCH_KEEP=1 keeps the data directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { ClickHouseClient } from '@clickhouse/client';
import type Stripe from 'stripe';
import { z } from 'zod';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { createMetrics } from '../src/ops/metrics.js';
import { openStorage, type Storage } from '../src/storage/client.js';
import { migrate } from '../src/storage/migrations.js';
import { loadSql } from '../src/storage/sql.js';
import { nextVersion } from '../src/storage/version.js';
import { createStripeClient } from '../src/stripe/client.js';
import { stripeNodeGateway } from '../src/stripe/gateway.js';
import { PushLedger, type Intent } from '../src/stripe/ledger.js';
import { pushItem } from '../src/storage/queries/push.js';
import { StripeLimiter } from '../src/stripe/limiter.js';
import { PushEngine, type CycleResult, type PushOptions } from '../src/stripe/push.js';
import { sandboxKey } from '../src/stripe/runtime.js';
import { startStripeSandbox, type StripeSandbox } from '../src/stripe/sandbox/server.js';
import { NoWriteLedger, summarize, TimedLedger, type CallStats } from './push-ledgers.js';
import { cloneTenant, seedDiffTenant, type DiffSeed } from './push-seed.js';
import { insertRows, microsToDecimal, prng, utcPeriod } from './lib/seed.js';

import { env, log, fmt, ms, ratio, x, section, line, check, checksLine, writeResults, printReport, pool, jsonRows, timeIt as timeRuns, settleMerges as settleAll, type Timing } from './lib/report.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const diffCustomers = env('BENCH_DIFF_CUSTOMERS', 50_000);
const diffAdjustments = env('BENCH_DIFF_ADJUSTMENTS', 4000);
const runs = Math.max(1, env('BENCH_RUNS', 5));

/** Median of BENCH_RUNS timed calls after a warm-up (the row count must not change between calls). */
const timeIt = (fn: () => Promise<number>, n = runs) => timeRuns(fn, n, true);
const settleMerges = (client: ClickHouseClient) => settleAll(client, 30_000);
const pushN = env('BENCH_PUSH_N', 3000);
const ceilings = (process.env.BENCH_PUSH_CEILINGS || '100,1000').split(',').map(Number);
const diagnostics = env('BENCH_PUSH_DIAG', 1) !== 0;
const tenantsForAll = Math.max(1, env('BENCH_TENANTS', 4));
const keep = process.env.BENCH_KEEP === '1';
const diffTargetMs = 1000;
const maxInFlight = 16;
const pushOptions: PushOptions = { settleAfterMs: 23 * 3600e3, failedRetryBaseMs: 60_000 };

// ---------------------------------------------------------------------------------------------------------------
// Part 1: the diff SQL

const baselineSql = (allTenants: boolean) =>
  `SELECT tenant_id, metric, customer_ref, period, sum(quantity) AS quantity
   FROM usage_period_counters
   ${allTenants ? '' : 'WHERE tenant_id = {tenantId:String}'}
   GROUP BY ALL`;

async function partDiff(storage: Storage) {
  const client = storage.jobs;
  const ledger = new PushLedger(client);
  const tenantId = 'bench';
  log(`part 1: seeding ${fmt(diffCustomers * 2)} counters (${fmt(diffCustomers)} customers x 2 periods)`);
  let t0 = performance.now();
  const seed: DiffSeed = await seedDiffTenant(client, { tenantId, metric: 'calls', customers: diffCustomers, adjustments: diffAdjustments, seed: 0x5eed });
  const seedMs = performance.now() - t0;
  const mergeWaitMs = await settleMerges(client);
  const parts = await jsonRows(
    client,
    `SELECT table, toUInt32(count()) AS parts, toUInt64(sum(rows)) AS rows FROM system.parts
     WHERE active AND database = currentDatabase() GROUP BY table ORDER BY table`,
  );

  log('part 1: timing');
  const params = (onlyChanged: boolean, tenant = tenantId, alsoKeys: string[][] = []) => ({ tenantId: tenant, onlyChanged: onlyChanged ? 1 : 0, alsoKeys });
  const baseline = await timeIt(async () => (await jsonRows(client, baselineSql(false), { tenantId })).length);
  const baselineNull = await timeIt(async () => {
    await client.command({ query: `${baselineSql(false)} FORMAT Null`, query_params: { tenantId } });
    return 0;
  });
  const diffChanged = await timeIt(async () => (await ledger.diff(tenantId, true, [])).length);
  const diffAll = await timeIt(async () => (await ledger.diff(tenantId, false, [])).length);
  // Where diff(onlyChanged) spends its time: the engine alone, the engine + JSON transfer/parse, then zod.
  const diffSqlNull = await timeIt(async () => {
    await client.command({ query: `${loadSql('push/push_deltas')}\nFORMAT Null`, query_params: params(true) });
    return 0;
  });
  let lastJson: unknown[] = [];
  const diffSqlJson = await timeIt(async () => {
    lastJson = await jsonRows(client, loadSql('push/push_deltas'), params(true));
    return lastJson.length;
  });
  const zodParse = await timeIt(async () => z.array(pushItem).parse(lastJson).length);
  const openIntents = await timeIt(async () => (await ledger.openIntents(tenantId)).length);
  // The cycle passes the keys of items with open intents; many open intents (an outage) make it a long list.
  // 10,000 keys take seconds: one timed run after the warm-up. Also the same SQL with the has() test replaced by an
  // IN set (a hash lookup per row instead of a scan of the list), to show what the list costs; not what src runs.
  const alsoKeys: Record<string, Timing> = {};
  const alsoKeysIn: Record<string, Timing> = {};
  const hasTest = 'has({alsoKeys:Array(Array(String))}, [item_tenant, item_metric, item_customer, item_period])';
  const inSetSql = loadSql('push/push_deltas').replace(
    hasTest,
    '(item_tenant, item_metric, item_customer, item_period) IN (SELECT (k[1], k[2], k[3], k[4]) FROM (SELECT arrayJoin({alsoKeys:Array(Array(String))}) AS k))',
  );
  for (const n of [1000, 10_000].filter((n) => n <= seed.sampleKeys.length)) {
    const keys = seed.sampleKeys.slice(0, n);
    alsoKeys[String(n)] = await timeIt(async () => (await ledger.diff(tenantId, true, keys)).length, n > 1000 ? 1 : runs);
    if (inSetSql.includes('arrayJoin')) {
      alsoKeysIn[String(n)] = await timeIt(async () => z.array(pushItem).parse(await jsonRows(client, inSetSql, params(true, tenantId, keys))).length);
    }
  }

  check('diff(onlyChanged) returns the expected items', diffChanged.rows === seed.expectedChanged, `${diffChanged.rows} vs ${seed.expectedChanged}`);
  check('diff(all) returns every item', diffAll.rows === seed.expectedItems, `${diffAll.rows} vs ${seed.expectedItems}`);

  section(`Part 1: push diff over ${fmt(seed.counterRows)} counters (tenant '${tenantId}', median of ${runs} after a warm-up)`);
  line(
    'Seeded',
    `${fmt(seed.counterRows)} counters, ${fmt(seed.customerMappingRows)} customer mappings, ${fmt(seed.pushedTotalsRows)} pushed_totals rows ` +
      `(${fmt(seed.pushedTotalsKeys)} items), ${fmt(seed.adjustmentRows)} adjustment rows (${fmt(seed.approvedAdjustments)} approved), ` +
      `${fmt(seed.pushLogRows)} push_log rows (${seed.openIntents} open) in ${ms(seedMs)}; merges settled after ${ms(mergeWaitMs)}`,
  );
  line('Baseline: bare aggregation, JSONEachRow', `${ms(baseline.medianMs)} (${fmt(baseline.rows)} rows)`);
  line('  same, FORMAT Null (engine only)', ms(baselineNull.medianMs));
  const verdict = (t: Timing) => (t.medianMs <= diffTargetMs ? 'PASS' : 'FAIL');
  line(
    "diff(tenant, true, [])  — push cycle",
    `${ms(diffChanged.medianMs)} = ${x(ratio(diffChanged.medianMs, baseline.medianMs))} baseline, ${fmt(diffChanged.rows)} rows, ${verdict(diffChanged)} (<= ${fmt(diffTargetMs)} ms)`,
  );
  line(
    "diff(tenant, false, []) — status",
    `${ms(diffAll.medianMs)} = ${x(ratio(diffAll.medianMs, baseline.medianMs))} baseline, ${fmt(diffAll.rows)} rows, ${verdict(diffAll)} (<= ${fmt(diffTargetMs)} ms)`,
  );
  line(
    '  diff(true) breakdown',
    `engine ${ms(diffSqlNull.medianMs)} (${x(ratio(diffSqlNull.medianMs, baselineNull.medianMs))} baseline engine), ` +
      `engine+JSON ${ms(diffSqlJson.medianMs)}, zod ${ms(zodParse.medianMs)}`,
  );
  line('openIntents(tenant) — cycle, first query', `${ms(openIntents.medianMs)} (${fmt(openIntents.rows)} rows)`);
  for (const [n, t] of Object.entries(alsoKeys)) {
    const alt = alsoKeysIn[n];
    line(
      `diff(tenant, true, ${fmt(Number(n))} alsoKeys)`,
      `${ms(t.medianMs)}${t.samplesMs.length === 1 ? ' (1 run)' : ''} = ${x(ratio(t.medianMs, diffChanged.medianMs))} diff with [], ${fmt(t.rows)} rows` +
        (alt ? `; as an IN set instead of has(): ${ms(alt.medianMs)} (${x(ratio(alt.medianMs, diffChanged.medianMs))}, ${fmt(alt.rows)} rows)` : ''),
    );
  }

  // The all-tenants path: the scheduled cycle runs with tenantId null, i.e. '' in SQL.
  let allTenants: Record<string, unknown> | undefined;
  if (tenantsForAll > 1) {
    log(`part 1: cloning tenant '${tenantId}' to ${tenantsForAll - 1} more tenants`);
    t0 = performance.now();
    for (let i = 2; i <= tenantsForAll; i++) await cloneTenant(client, tenantId, `${tenantId}_${i}`);
    const cloneMs = performance.now() - t0;
    await settleMerges(client);
    const baseAll = await timeIt(async () => (await jsonRows(client, baselineSql(true))).length);
    const oneOfMany = await timeIt(async () => (await ledger.diff(tenantId, true, [])).length);
    const baseOneOfMany = await timeIt(async () => (await jsonRows(client, baselineSql(false), { tenantId })).length);
    const diffEvery = await timeIt(async () => (await ledger.diff('', true, [])).length);
    check('diff(all tenants) returns every tenant’s items', diffEvery.rows === seed.expectedChanged * tenantsForAll, `${diffEvery.rows}`);
    check('diff(one of many tenants) unchanged', oneOfMany.rows === seed.expectedChanged);
    line(`With ${tenantsForAll} tenants (${fmt(seed.counterRows * tenantsForAll)} counters)`, `cloned in ${ms(cloneMs)}`);
    line(
      "  diff('', true) — all tenants",
      `${ms(diffEvery.medianMs)} = ${x(ratio(diffEvery.medianMs, baseAll.medianMs))} baseline (all-tenant aggregation ${ms(baseAll.medianMs)}, ${fmt(baseAll.rows)} rows), ${fmt(diffEvery.rows)} rows`,
    );
    line(
      `  diff('${tenantId}', true) among ${tenantsForAll}`,
      `${ms(oneOfMany.medianMs)} = ${x(ratio(oneOfMany.medianMs, baseOneOfMany.medianMs))} baseline (${ms(baseOneOfMany.medianMs)}); ` +
        `${x(ratio(oneOfMany.medianMs, diffChanged.medianMs))} the single-tenant diff`,
    );
    allTenants = { tenants: tenantsForAll, cloneMs, baselineAllTenants: baseAll, diffAllTenants: diffEvery, baselineOneTenant: baseOneOfMany, diffOneTenant: oneOfMany };
  }

  const { sampleKeys: _omit, ...seedSummary } = seed;
  return {
    seed: { ...seedSummary, seedMs, mergeWaitMs, parts },
    baseline,
    baselineNull,
    diffChanged: { ...diffChanged, ratioToBaseline: ratio(diffChanged.medianMs, baseline.medianMs), pass: diffChanged.medianMs <= diffTargetMs },
    diffAll: { ...diffAll, ratioToBaseline: ratio(diffAll.medianMs, baseline.medianMs), pass: diffAll.medianMs <= diffTargetMs },
    breakdown: { diffSqlNull, diffSqlJson, zodParse },
    openIntents,
    alsoKeys,
    alsoKeysInSet: alsoKeysIn,
    allTenants,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Part 2: push rate

type Meter = { id: string; eventName: string };

async function newMeter(stripe: Stripe, name: string): Promise<Meter> {
  const m = await stripe.billing.meters.create({ display_name: name, event_name: name, default_aggregation: { formula: 'sum' } });
  return { id: m.id, eventName: m.event_name };
}

/** A tenant mapped to `meter`, every customer mapped, one current-period counter per customer (>= 1 unit). */
async function seedPushTenant(client: ClickHouseClient, tenantId: string, meter: Meter, customers: string[], seed: number): Promise<number[]> {
  const rnd = prng(seed);
  const period = utcPeriod(0);
  const micros = customers.map(() => (1 + Math.floor(rnd() * 500)) * 1e6 + Math.floor(rnd() * 1e6));
  await insertRows(client, 'price_mappings', [
    { tenant_id: tenantId, metric: 'calls', meter_id: meter.id, event_name: meter.eventName, active: 1, deleted: 0, version: nextVersion() },
  ]);
  await insertRows(
    client,
    'customer_mappings',
    customers.map((id, i) => ({ tenant_id: tenantId, customer_ref: `c${i}`, stripe_customer_id: id, version: nextVersion() })),
  );
  await insertRows(
    client,
    'usage_period_counters',
    micros.map((m, i) => ({ tenant_id: tenantId, metric: 'calls', customer_ref: `c${i}`, period, quantity: microsToDecimal(m), events: 1 })),
  );
  return micros.map((m) => Math.floor(m / 1e6));
}

type CycleRun = {
  label: string;
  tenantId: string;
  ceiling: number;
  ledger: string;
  n: number;
  result: CycleResult;
  achievedPerSec: number;
  ratioToCeiling: number;
  ratioToRaw: number;
  sendPhase: { events: number; ms: number; perSec: number };
  process: { cpuMs: number; cpuMsPerAck: number; cpuShare: number; eventLoopDelayMs: { mean: number; p99: number; max: number } };
  totalsChecked: number;
  totalsWrong: number;
  diffAfter: number | null;
  secondCycle: { acked: number; items: number; durationMs: number } | null;
  ledgerCalls?: Record<string, CallStats | { perAck: CallStats; bulk: CallStats }>;
};

/** When the sandbox received the meter's events: the send phase of a cycle, without its reads and the intent save. */
function sendPhase(sandbox: StripeSandbox, meterId: string) {
  const rec = sandbox
    .events()
    .filter((e) => e.meter === meterId)
    .map((e) => e.received_ms)
    .sort((a, b) => a - b);
  const span = rec.length > 1 ? rec.at(-1)! - rec[0]! : 0;
  return { events: rec.length, ms: span, perSec: span > 0 ? ((rec.length - 1) / span) * 1000 : NaN };
}

async function rawBaseline(stripe: Stripe, sandbox: StripeSandbox, customers: string[], label: string, warmup = 0) {
  const meter = await newMeter(stripe, `bench_raw_${label}`);
  const ts = Math.floor(Date.now() / 1000);
  const call = (i: number, tag: string) =>
    stripe.billing.meterEvents.create({
      event_name: meter.eventName,
      identifier: `raw_${label}_${tag}${i}`,
      timestamp: ts,
      payload: { stripe_customer_id: customers[i % customers.length]!, value: '1' },
    });
  // Warm-up (JIT, sockets), on the same meter; its events are subtracted in the check below.
  await pool(maxInFlight, warmup, async (i) => {
    await call(i, 'w');
  });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await pool(maxInFlight, customers.length, async (i) => {
    await call(i, '');
  });
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  let landed = 0;
  for (const c of customers) landed += sandbox.totals({ meterId: meter.id, customer: c });
  check(`raw baseline (${label}) landed every call`, landed === customers.length + warmup, `${landed}`);
  return {
    calls: customers.length,
    warmupCalls: warmup,
    concurrency: maxInFlight,
    elapsedMs,
    perSec: (customers.length / elapsedMs) * 1000,
    cpuMsPerCall: (cpu.user + cpu.system) / 1000 / customers.length,
  };
}

async function partPush(storage: Storage) {
  const client = storage.jobs;
  const sandbox = await startStripeSandbox({ port: 0 });
  try {
    const stripe = createStripeClient({ secretKey: sandboxKey, apiBase: sandbox.url, timeoutMs: 10_000 });
    const logger = createLogger('warn');

    log(`part 2: creating ${fmt(pushN)} sandbox customers`);
    let t0 = performance.now();
    const customers: string[] = new Array<string>(pushN);
    await pool(32, pushN, async (i) => {
      customers[i] = (await stripe.customers.create({ name: `bench customer ${i}` })).id;
    });
    const allCustomers = customers;
    const customersMs = performance.now() - t0;

    log('part 2: raw baseline');
    const rawBefore = await rawBaseline(stripe, sandbox, customers, 'before', Math.min(1000, pushN));
    const raw = rawBefore.perSec;

    const cycleRun = async (
      label: string,
      ceiling: number,
      ledgerKind: 'PushLedger' | 'TimedLedger' | 'NoWriteLedger',
      seed: number,
      customers = allCustomers,
    ): Promise<CycleRun> => {
      const n = customers.length;
      const tenantId = `push_${label}`;
      const meter = await newMeter(stripe, `bench_${tenantId}`);
      const expected = await seedPushTenant(client, tenantId, meter, customers, seed);
      const ledger =
        ledgerKind === 'TimedLedger' ? new TimedLedger(client) : ledgerKind === 'NoWriteLedger' ? new NoWriteLedger(client) : new PushLedger(client);
      // As src/service.ts builds it; the time zone lookup answers UTC, the tenant bills through the platform account.
      const engine = new PushEngine({
        ledger,
        gateway: stripeNodeGateway(stripe),
        limiter: new StripeLimiter(ceiling, maxInFlight),
        tenantOf: async (id) => ({ id, timeZone: 'UTC', stripeAccount: undefined }),
        metrics: createMetrics(),
        log: logger.child({ component: 'push' }),
        opts: pushOptions,
      });
      log(`part 2: cycle '${tenantId}' (ceiling ${fmt(ceiling)}/s, ${ledgerKind})`);
      const loop = monitorEventLoopDelay({ resolution: 5 });
      loop.enable();
      const cpu0 = process.cpuUsage();
      const result = await engine.cycle(tenantId);
      const cpu = process.cpuUsage(cpu0);
      loop.disable();
      const process_ = {
        cpuMs: (cpu.user + cpu.system) / 1000,
        cpuMsPerAck: (cpu.user + cpu.system) / 1000 / Math.max(1, result.acked),
        cpuShare: (cpu.user + cpu.system) / 1000 / result.durationMs,
        eventLoopDelayMs: { mean: loop.mean / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
      };
      const achievedPerSec = (result.acked / result.durationMs) * 1000;
      const phase = sendPhase(sandbox, meter.id);
      let wrong = 0;
      for (let i = 0; i < customers.length; i++) {
        if (sandbox.totals({ meterId: meter.id, customer: customers[i]! }) !== expected[i]) wrong++;
      }
      check(`${label}: acked = N`, result.acked === n, `acked ${result.acked}, failed ${result.failed}, later ${result.retriedLater}`);
      check(`${label}: sandbox totals = floor(local)`, wrong === 0, `${wrong} customers differ`);
      let diffAfter: number | null = null;
      let second: CycleRun['secondCycle'] = null;
      if (ledgerKind !== 'NoWriteLedger') {
        diffAfter = (await new PushLedger(client).diff(tenantId, true, [])).length;
        check(`${label}: nothing left to push`, diffAfter === 0, `${diffAfter} items`);
        const r2 = await engine.cycle(tenantId);
        second = { acked: r2.acked, items: r2.items, durationMs: r2.durationMs };
        check(`${label}: a second cycle sends nothing`, r2.acked === 0 && r2.items === 0, JSON.stringify(second));
      }
      const run: CycleRun = {
        label,
        tenantId,
        ceiling,
        ledger: ledgerKind,
        n,
        result,
        achievedPerSec,
        ratioToCeiling: achievedPerSec / ceiling,
        ratioToRaw: achievedPerSec / raw,
        sendPhase: phase,
        process: process_,
        totalsChecked: customers.length,
        totalsWrong: wrong,
        diffAfter,
        secondCycle: second,
      };
      if (ledger instanceof TimedLedger) {
        const s = ledger.stats();
        // Calls of the first cycle only (the second cycle's diff/openIntents are recorded too; they are tiny).
        const split = (samples: Array<{ ms: number; rows: number }>) => ({
          perAck: summarize(samples.filter((x) => x.rows === 1)),
          bulk: summarize(samples.filter((x) => x.rows > 1)),
        });
        run.ledgerCalls = { openIntents: s.openIntents, diff: s.diff, saveIntents: split(ledger.samples.saveIntents), savePushed: s.savePushed };
      }
      return run;
    };

    const cycles: CycleRun[] = [];
    let seed = 1;
    for (const ceiling of ceilings) cycles.push(await cycleRun(`c${ceiling}`, ceiling, 'PushLedger', seed++));
    const diag: CycleRun[] = [];
    let writes: Record<string, unknown> | undefined;
    if (diagnostics) {
      const top = Math.max(...ceilings);
      // The timed run on a third of the customers: the write cost per ack is the same, and it keeps the run short.
      diag.push(await cycleRun(`timed_c${top}`, top, 'TimedLedger', seed++, customers.slice(0, Math.ceil(pushN / 3))));
      diag.push(await cycleRun(`nowrite_c${top}`, top, 'NoWriteLedger', seed++));
      writes = await ledgerWrites(client);
    }
    log('part 2: raw baseline again');
    const rawAfter = await rawBaseline(stripe, sandbox, customers, 'after');
    const stats = sandbox.stats();
    const parts = await jsonRows(
      client,
      `SELECT table, toUInt32(count()) AS parts, toUInt64(sum(rows)) AS rows FROM system.parts
       WHERE active AND database = currentDatabase() AND table IN ('push_log', 'pushed_totals') GROUP BY table ORDER BY table`,
    );

    section(`Part 2: push cycle against the in-process sandbox (N = ${fmt(pushN)} customers, ${maxInFlight} in flight)`);
    line('Sandbox customers created', `${fmt(pushN)} in ${ms(customersMs)} (${fmt((pushN / customersMs) * 1000)}/s, 32 concurrent)`);
    line(
      `Baseline: raw meterEvents.create, ${maxInFlight} concurrent`,
      `${fmt(rawBefore.perSec)} calls/s (${fmt(pushN)} calls in ${ms(rawBefore.elapsedMs)} after ${fmt(rawBefore.warmupCalls)} warm-up calls; ` +
        `CPU ${fmt(rawBefore.cpuMsPerCall, 2)} ms/call); again at the end: ${fmt(rawAfter.perSec)} calls/s`,
    );
    const show = (c: CycleRun, what: string) =>
      line(
        `${what}`,
        `acked ${fmt(c.result.acked)}/${fmt(c.n)} in ${ms(c.result.durationMs)}: ${fmt(c.achievedPerSec, 1)} calls/s = ` +
          `${x(c.ratioToCeiling)} ceiling, ${x(c.ratioToRaw)} raw; send phase ${fmt(c.sendPhase.perSec, 1)}/s over ${ms(c.sendPhase.ms)}; ` +
          `CPU ${fmt(c.process.cpuMsPerAck, 2)} ms/ack (${fmt(c.process.cpuShare * 100)}% of a core), event-loop delay p99 ${ms(c.process.eventLoopDelayMs.p99)} max ${ms(c.process.eventLoopDelayMs.max)}; ` +
          `totals ok ${fmt(c.totalsChecked - c.totalsWrong)}/${fmt(c.totalsChecked)}` +
          (c.secondCycle ? `; idle cycle ${ms(c.secondCycle.durationMs)}` : ''),
      );
    for (const c of cycles) show(c, `PushEngine, ceiling ${fmt(c.ceiling)}/s`);
    for (const c of diag) show(c, `  diagnostic: ${c.ledger}, ceiling ${fmt(c.ceiling)}/s`);
    const timed = diag.find((c) => c.ledgerCalls);
    if (timed?.ledgerCalls) {
      const lc = timed.ledgerCalls as { openIntents: CallStats; diff: CallStats; saveIntents: { perAck: CallStats; bulk: CallStats }; savePushed: CallStats };
      const d = (s: CallStats) => `${fmt(s.calls)} calls, mean ${ms(s.meanMs)}, p50 ${ms(s.p50Ms)}, p95 ${ms(s.p95Ms)}, max ${ms(s.maxMs)}, total ${ms(s.totalMs)}`;
      line('    savePushed (per ack, in cycle)', d(lc.savePushed));
      line('    saveIntents (per ack, in cycle)', d(lc.saveIntents.perAck));
      line('    saveIntents (bulk, before sending)', `${d(lc.saveIntents.bulk)}, ${fmt(lc.saveIntents.bulk.rows)} rows`);
      line('    openIntents + diff', `${ms(lc.openIntents.totalMs + lc.diff.totalMs)} over ${lc.openIntents.calls + lc.diff.calls} calls (both cycles)`);
    }
    if (writes) {
      const w = writes as { sequential: { perAckMs: number; maxAcksPerSec: number }; concurrent: { perAckMs: number; maxAcksPerSec: number }; batch: { rows: number; ms: number } };
      line(
        '  ledger writes alone (savePushed + saveIntents, 1 row each)',
        `sequential ${ms(w.sequential.perAckMs)}/ack (max ${fmt(w.sequential.maxAcksPerSec)} acks/s); ` +
          `${maxInFlight} concurrent ${ms(w.concurrent.perAckMs)}/ack (max ${fmt(w.concurrent.maxAcksPerSec)} acks/s); ` +
          `one batch of ${fmt(w.batch.rows)} rows each: ${ms(w.batch.ms)}`,
      );
    }
    line('push_log / pushed_totals active parts', (parts as Array<{ table: string; parts: number; rows: string }>).map((p) => `${p.table} ${p.parts} parts (${fmt(Number(p.rows))} rows)`).join(', '));
    return { customersMs, rawBefore, rawAfter, cycles, diagnostics: diag, ledgerWrites: writes, sandboxStats: stats, parts };
  } finally {
    await sandbox.close();
  }
}

/** The per-ack ledger writes on their own: savePushed + saveIntents of one intent each, as acknowledge() does. */
async function ledgerWrites(client: ClickHouseClient) {
  const ledger = new PushLedger(client);
  const now = Date.now();
  const period = utcPeriod(0);
  const intentFor = (tag: string, i: number): Intent => ({
    identifier: `sm_probe_${tag}_${i}`,
    customerPayloadKey: 'stripe_customer_id',
    valuePayloadKey: 'value',
    tenantId: `probe_${tag}`,
    metric: 'calls',
    customerRef: `c${i}`,
    period,
    seq: 1,
    generation: 0,
    meterId: 'mtr_probe',
    eventName: 'probe',
    stripeCustomerId: `cus_probe${i}`,
    baseTotal: 0,
    targetTotal: 5,
    value: 5,
    eventTs: Math.floor(now / 1000),
    status: 'acked',
    attempts: 1,
    lastError: '',
    lastErrorCode: '',
    lastHttpStatus: 200,
    nextAttemptAt: now,
    createdAt: now,
  });
  const n = 300;
  log(`part 2: ledger writes alone (${n} acks sequential, ${n} with ${maxInFlight} concurrent, one batch)`);
  let t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const it = intentFor('seq', i);
    await ledger.savePushed([it]);
    await ledger.saveIntents([it]);
  }
  const seqMs = performance.now() - t0;
  t0 = performance.now();
  await pool(maxInFlight, n, async (i) => {
    const it = intentFor('conc', i);
    await ledger.savePushed([it]);
    await ledger.saveIntents([it]);
  });
  const concMs = performance.now() - t0;
  const batch = Array.from({ length: pushN }, (_, i) => intentFor('batch', i));
  t0 = performance.now();
  await ledger.savePushed(batch);
  await ledger.saveIntents(batch);
  const batchMs = performance.now() - t0;
  return {
    sequential: { acks: n, ms: seqMs, perAckMs: seqMs / n, maxAcksPerSec: (n / seqMs) * 1000 },
    concurrent: { acks: n, concurrency: maxInFlight, ms: concMs, perAckMs: concMs / n, maxAcksPerSec: (n / concMs) * 1000 },
    batch: { rows: pushN, ms: batchMs },
  };
}

// ---------------------------------------------------------------------------------------------------------------

async function main() {
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'stripemeter-bench-push-'));
  const loadBefore = os.loadavg();
  let storage: Storage | undefined;
  try {
    storage = await openStorage(loadConfig({ STRIPEMETER_DATA_DIR: tmp }));
    await migrate(storage.jobs, {});
    const diff = await partDiff(storage);
    // Same storage, other tenants: chDB allows one data directory per process.
    const push = pushN > 0 ? await partPush(storage) : undefined;
    const peakRss = process.resourceUsage().maxRSS * 1024;
    const totalSeconds = (performance.now() - t0) / 1000;

    section('Process');
    line('Peak RSS (node + embedded ClickHouse)', `${fmt(peakRss / 1024 / 1024)} MiB`);
    line('Load average (1 min) at start / end', `${fmt(loadBefore[0]!, 2)} / ${fmt(os.loadavg()[0]!, 2)} on ${os.cpus().length} CPUs`);
    line('Correctness checks', checksLine());
    line('Total runtime', `${fmt(totalSeconds, 0)} s`);

    printReport('stripemeter push benchmark');

    writeResults(root, 'push', startedAt, loadBefore, {
      settings: { diffCustomers, diffAdjustments, runs, pushN, ceilings, maxInFlight, pushOptions, diffTargetMs, tenantsForAll, diagnostics },
      diff,
      push,
      peakRssBytes: peakRss,
      totalSeconds,
    });
  } finally {
    await storage?.close();
    if (keep) log(`data kept in ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
