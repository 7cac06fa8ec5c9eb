/**
 * Row builders for the replay / reconciliation benchmark (bench/replay.ts). Rows are written straight into embedded
 * storage in large blocks, shaped as the service stores them: events as EventRow (src/ingest/event.ts) through a raw
 * `INSERT INTO events FORMAT JSONEachRow` (as src/ingest/writer.ts does, so the counters' materialized views fill),
 * and the reconciliation tables as the push job, the adjustments API and Reconciler.readStripe write them.
 * Quantities are integer micros (the Decimal(38, 6) scale), so expected totals are exact.
 */
import { Readable } from 'node:stream';
import type { ClickHouseClient } from '@clickhouse/client';
import type { EventRow } from '../src/ingest/event.js';
import { toClickHouseTime } from '../src/storage/time.js';
import { nextVersion } from '../src/storage/version.js';
import { insertRows, microsToDecimal, prng, utcPeriod } from './lib/seed.js';

const hex8 = (n: number) => (n >>> 0).toString(16).padStart(8, '0');
const hex16 = (rnd: () => number) => hex8(rnd() * 4294967296) + hex8(rnd() * 4294967296);
export const customerRef = (c: number) => `cust_${String(c).padStart(6, '0')}`;

export type EventSpec = {
  tenantId: string;
  metric: string;
  customers: number;
  count: number;
  /** ts uniformly in [fromMs, toMs). */
  fromMs: number;
  toMs: number;
  seed: number;
  beyondWindow: 0 | 1;
};

/**
 * EventRow-shaped rows: random 40-hex-digit keys (as derived keys are: `auto_` + SHA-256 prefix, so the sorting key
 * does not follow ts), customers skewed towards the low numbers, 1..10 units with a fraction on 30% of them, a small
 * meta map on a quarter of them, period = YYYY-MM of ts in UTC (tenants here are UTC).
 */
export function* eventRows(spec: EventSpec): Generator<EventRow> {
  const rnd = prng(spec.seed);
  const span = spec.toMs - spec.fromMs;
  for (let i = 0; i < spec.count; i++) {
    const tsMs = spec.fromMs + Math.floor(rnd() * span);
    const c = Math.floor(spec.customers * rnd() ** 1.5);
    const micros = (1 + Math.floor(rnd() * 10)) * 1e6 + (rnd() < 0.3 ? Math.floor(rnd() * 1e6) : 0);
    const ts = toClickHouseTime(tsMs);
    yield {
      tenant_id: spec.tenantId,
      idempotency_key: `auto_${hex16(rnd)}${hex16(rnd)}${hex8(rnd() * 4294967296)}`,
      metric: spec.metric,
      customer_ref: customerRef(c),
      resource_id: rnd() < 0.5 ? `res_${c % 97}` : '',
      quantity: microsToDecimal(micros),
      ts,
      period: ts.slice(0, 7),
      meta: rnd() < 0.25 ? { region: rnd() < 0.5 ? 'eu-west-1' : 'us-east-1' } : {},
      source: 'api',
      payload_hash: hex16(rnd),
      beyond_window: spec.beyondWindow,
    };
  }
}

/** Raw `INSERT INTO events FORMAT JSONEachRow` in blocks of `blockRows`, as the ingest writer sends its groups. */
export async function insertEvents(client: ClickHouseClient, rows: Iterable<EventRow>, blockRows = 100_000): Promise<number> {
  let n = 0;
  let body = '';
  let inBlock = 0;
  const flush = async () => {
    if (inBlock === 0) return;
    const result = await client.exec({ query: 'INSERT INTO events FORMAT JSONEachRow', values: Readable.from([body]) });
    result.stream.resume();
    body = '';
    inBlock = 0;
  };
  for (const r of rows) {
    body += JSON.stringify(r) + '\n';
    n++;
    if (++inBlock >= blockRows) await flush();
  }
  await flush();
  return n;
}

export type ReconStatusCounts = Record<'ok' | 'aligned' | 'drift' | 'unmapped' | 'unpushable', number>;

export type ReconSeed = {
  tenantId: string;
  periods: string[];
  items: number;
  rows: Record<string, number>;
  /** Status of every item computed here from the seeded values with the policy of sql/reconcile/compare.sql. */
  expected: ReconStatusCounts;
  expectedLateItems: number;
  /** Items of mapped customers: what reconcile/items.sql must return, i.e. the reads readStripe makes. */
  mappedItems: number;
  /** Mapped items with a Stripe total in the run. */
  reportedItems: number;
};

/**
 * `customers` customers x 2 periods (current and previous UTC month, as Reconciler.periods gives them for a UTC
 * tenant) for one tenant and one metric:
 * - usage_period_counters: one row per item, plus a later increment for a fifth of them (unmerged parts);
 * - counter_corrections (via their views, they move the counters too): 2,000 cells, half removing duplicates;
 * - adjustments: 3/4 approved usage adjustments (a fifth with an older pending version), 1/4 pending, and some
 *   approved reconciliation adjustments (which do not count as usage);
 * - price mapping; customer mappings for 98% of the customers (a tenth with an older version);
 * - pushed_totals for every item: 70% up to date, 30% behind by 1..50 units; 2% pushed within the settle time;
 *   a third with an older version;
 * - push_log: every item's last intent as pending then acked; 300 items with an intent still pending, 200 failed;
 * - stripe_reported_totals of `runId` for mapped items (1% not read): Stripe = pushed (60%), = local (10%),
 *   pushed + 1 (15%), pushed + 5% of local + 3 (15%); plus an older run over every item;
 * - 3,000 events flagged beyond the lateness window in the two periods, 1,000 of them since replayed (flag 2).
 */
export async function seedRecon(
  client: ClickHouseClient,
  opts: { tenantId: string; metric: string; customers: number; runId: string; seed: number; nowMs: number; epsilon: number; settleMs: number },
): Promise<ReconSeed> {
  const { tenantId, metric, customers, runId, nowMs } = opts;
  const rnd = prng(opts.seed);
  const periods = [utcPeriod(0, new Date(nowMs)), utcPeriod(-1, new Date(nowMs))];
  const periodStartMs = (p: string) => Date.UTC(Number(p.slice(0, 4)), Number(p.slice(5, 7)) - 1, 1);
  const key = (c: number, p: string) => `${c}|${p}`;
  const rows: Record<string, number> = {};
  const local = new Map<string, number>();

  // Counters.
  const counters: object[] = [];
  const increments: object[] = [];
  for (let c = 0; c < customers; c++) {
    for (const period of periods) {
      const micros = (1 + Math.floor(rnd() * 100_000)) * 1e6 + (rnd() < 0.8 ? Math.floor(rnd() * 1e6) : 0);
      local.set(key(c, period), micros);
      counters.push({ tenant_id: tenantId, metric, customer_ref: customerRef(c), period, quantity: microsToDecimal(micros), events: 1 + Math.floor(rnd() * 5000) });
      if (rnd() < 0.2) {
        const more = Math.floor(rnd() * 50) * 1e6 + Math.floor(rnd() * 1e6);
        local.set(key(c, period), micros + more);
        increments.push({ tenant_id: tenantId, metric, customer_ref: customerRef(c), period, quantity: microsToDecimal(more), events: 1 });
      }
    }
  }
  await insertRows(client, 'usage_period_counters', counters);
  await insertRows(client, 'usage_period_counters', increments);
  rows.usage_period_counters = counters.length + increments.length;

  // Counter corrections (they feed both counters through their materialized views).
  const corrections: object[] = [];
  for (let i = 0; i < 2000; i++) {
    const c = Math.floor(rnd() * customers);
    const period = periods[i % 2]!;
    const dup = i % 2 === 0;
    const micros = dup ? -(1 + Math.floor(rnd() * 5)) * 1e6 : (1 + Math.floor(rnd() * 20)) * 1e6 + Math.floor(rnd() * 1e6);
    local.set(key(c, period), local.get(key(c, period))! + micros);
    const hour = new Date(periodStartMs(period) + Math.floor(rnd() * 20) * 3600_000).toISOString().slice(0, 19).replace('T', ' ');
    corrections.push({ replay_id: `rpl_bench${i % 7}`, tenant_id: tenantId, metric, customer_ref: customerRef(c), hour, period, quantity: microsToDecimal(micros), events: dup ? -(1 + (i % 3)) : 1 + (i % 4) });
  }
  await insertRows(client, 'counter_corrections', corrections);
  rows.counter_corrections = corrections.length;

  // Adjustments.
  const adjOld: object[] = [];
  const adjNow: object[] = [];
  for (let i = 0; i < 4500; i++) {
    const c = Math.floor(rnd() * customers);
    const period = periods[Math.floor(rnd() * 2)]!;
    const micros = rnd() < 0.3 ? -Math.floor(rnd() * 900_000) : Math.floor(rnd() * 50_000_000);
    const recon = i >= 4000;
    const status = recon || i % 4 !== 3 ? 'approved' : 'pending';
    const row = {
      id: `adj_${tenantId}_${i}`,
      tenant_id: tenantId,
      metric,
      customer_ref: customerRef(c),
      period,
      delta: microsToDecimal(micros),
      reason: recon ? 'reconciliation' : 'correction',
      status,
      created_by: 'bench',
      approved_by: status === 'approved' ? 'ops' : '',
      approved_at: status === 'approved' ? toClickHouseTime(nowMs - 3600_000) : null,
    };
    if (status === 'approved' && !recon) local.set(key(c, period), local.get(key(c, period))! + micros);
    if (status === 'approved' && i % 5 === 0) adjOld.push({ ...row, status: 'pending', approved_by: '', approved_at: null, version: nextVersion() });
    adjNow.push({ ...row, version: nextVersion() });
  }
  await insertRows(client, 'adjustments', adjOld);
  await insertRows(client, 'adjustments', adjNow);
  rows.adjustments = adjOld.length + adjNow.length;

  // Mappings.
  const meterId = `mtr_${tenantId}_${metric}`;
  await insertRows(client, 'price_mappings', [{ tenant_id: tenantId, metric, meter_id: meterId, event_name: `${tenantId}_${metric}`, active: 1, deleted: 0, version: nextVersion() }]);
  const mapped = (c: number) => c % 50 !== 7;
  const stripeCustomer = (c: number) => `cus_${(c * 2654435761).toString(36).padStart(14, '0').slice(-14)}`;
  const cmOld: object[] = [];
  const cmNow: object[] = [];
  for (let c = 0; c < customers; c++) {
    if (!mapped(c)) continue;
    const row = { tenant_id: tenantId, customer_ref: customerRef(c), stripe_customer_id: stripeCustomer(c) };
    if (c % 10 === 0) cmOld.push({ ...row, stripe_customer_id: `cus_old${c}`, version: nextVersion() });
    cmNow.push({ ...row, version: nextVersion() });
  }
  await insertRows(client, 'customer_mappings', cmOld);
  await insertRows(client, 'customer_mappings', cmNow);
  rows.customer_mappings = cmOld.length + cmNow.length;

  // Push ledger, push log, Stripe's totals; expected statuses.
  const ptOld: object[] = [];
  const ptNow: object[] = [];
  const logRows: object[] = [];
  const reported: object[] = [];
  const reportedOld: object[] = [];
  const expected: ReconStatusCounts = { ok: 0, aligned: 0, drift: 0, unmapped: 0, unpushable: 0 };
  let mappedItems = 0;
  let reportedItems = 0;
  let open = 0;
  let failed = 0;
  for (let c = 0; c < customers; c++) {
    for (const period of periods) {
      const L = local.get(key(c, period))!;
      const target = Math.floor(L / 1e6);
      const behind = rnd() < 0.3;
      const P = behind ? Math.max(0, target - 1 - Math.floor(rnd() * 50)) : target;
      const recent = rnd() < 0.02;
      const base = { tenant_id: tenantId, metric, customer_ref: customerRef(c), period };
      const seq = 1 + Math.floor(rnd() * 3);
      const identifier = `sm_${tenantId}_${c}_${period}_${seq}`;
      const updatedAt = toClickHouseTime(recent ? nowMs - 60_000 : nowMs - 2 * 3600_000);
      if (c % 3 === 0) ptOld.push({ ...base, pushed_total: Math.max(0, P - 7), seq: seq - 1, last_identifier: `${identifier}_prev`, updated_at: toClickHouseTime(nowMs - 5 * 3600_000), version: nextVersion() });
      ptNow.push({ ...base, pushed_total: P, seq, last_identifier: identifier, updated_at: updatedAt, version: nextVersion() });
      const intent = {
        identifier,
        ...base,
        seq,
        generation: 0,
        meter_id: meterId,
        event_name: `${tenantId}_${metric}`,
        stripe_customer_id: stripeCustomer(c),
        base_total: Math.max(0, P - 7),
        target_total: P,
        value: Math.min(7, P),
        event_ts: Math.floor(nowMs / 1000) - 7200,
        next_attempt_at: toClickHouseTime(nowMs - 7200_000),
        created_at: toClickHouseTime(nowMs - 7200_000),
        updated_at: updatedAt,
      };
      logRows.push({ ...intent, status: 'pending', version: nextVersion() });
      logRows.push({ ...intent, status: 'acked', attempts: 1, last_http_status: 200, version: nextVersion() });
      // An open intent for the next push of some items: still pending (in flight), or refused (failed).
      let pending = false;
      let pushFailed = false;
      if (c % 83 === 1 && open < 300) {
        pending = true;
        open++;
      } else if (c % 89 === 2 && failed < 200) {
        pushFailed = true;
        failed++;
      }
      if (pending || pushFailed) {
        const next = { ...intent, identifier: `${identifier}_n`, seq: seq + 1, base_total: P, target_total: target, value: target - P };
        logRows.push({ ...next, status: 'pending', version: nextVersion() });
        if (pushFailed) {
          logRows.push({ ...next, status: 'failed', attempts: 1, last_error: 'No such customer', last_error_code: 'resource_missing', last_http_status: 400, version: nextVersion() });
        }
      }

      reportedOld.push({ run_id: `${runId}_old`, ...base, meter_id: meterId, stripe_customer_id: stripeCustomer(c), stripe_total: String(Math.max(0, P - 3)) });
      if (mapped(c)) mappedItems++;
      if (!mapped(c) || rnd() < 0.01) {
        expected.unmapped++;
        continue;
      }
      reportedItems++;
      const u = rnd();
      // Stripe's total, in micros.
      const S = u < 0.6 ? P * 1e6 : u < 0.7 ? L : u < 0.85 ? (P + 1) * 1e6 : (P + Math.floor((0.05 * L) / 1e6) + 3) * 1e6;
      reported.push({ run_id: runId, ...base, meter_id: meterId, stripe_customer_id: stripeCustomer(c), stripe_total: microsToDecimal(S) });
      // The policy of sql/reconcile/compare.sql, in micros.
      const inFlight = pending || recent;
      const diffPct = Math.abs(L - S) / 1e6 / Math.max(Math.abs(L) / 1e6, 1);
      let status: keyof ReconStatusCounts;
      if (L === S) status = 'ok';
      else if ((S === P * 1e6 || inFlight) && !(pushFailed && diffPct > opts.epsilon)) status = 'ok';
      else if (S !== P * 1e6 && !inFlight && diffPct <= opts.epsilon) status = 'aligned';
      else status = 'drift';
      expected[status]++;
    }
  }
  await insertRows(client, 'pushed_totals', ptOld);
  await insertRows(client, 'pushed_totals', ptNow);
  await insertRows(client, 'push_log', logRows);
  await insertRows(client, 'stripe_reported_totals', reportedOld);
  await insertRows(client, 'stripe_reported_totals', reported);
  rows.pushed_totals = ptOld.length + ptNow.length;
  rows.push_log = logRows.length;
  rows.stripe_reported_totals = reportedOld.length + reported.length;

  // Events stored beyond the lateness window; a third since counted by a replay (recorded in replayed_events).
  const late = [...eventRows({ tenantId, metric, customers, count: 3000, fromMs: periodStartMs(periods[1]!), toMs: nowMs - 60_000, seed: opts.seed + 1, beyondWindow: 1 })];
  await insertEvents(client, late);
  const replayed = late
    .filter((_, i) => i % 3 === 0)
    .map((r) => ({ tenant_id: r.tenant_id, idempotency_key: r.idempotency_key, ts: r.ts, metric: r.metric, customer_ref: r.customer_ref, period: r.period, replay_id: 'rpl_seed' }));
  await insertRows(client, 'replayed_events', replayed);
  rows.late_events = late.length;
  rows.replayed_events = replayed.length;
  const lateItems = new Set(late.filter((_, i) => i % 3 !== 0).map((r) => `${r.customer_ref}|${r.period}`));

  return { tenantId, periods, items: local.size, rows, expected, expectedLateItems: lateItems.size, mappedItems, reportedItems };
}
