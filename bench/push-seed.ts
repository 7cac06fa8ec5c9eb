/**
 * Row builders for the push benchmark (bench/push.ts): realistic rows for the tables the push diff reads, written
 * straight into storage in large blocks. Quantities are kept as integer micros (Decimal(38, 6) scale) so the
 * expected diff can be computed exactly here and compared with what the SQL returns.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { nextVersion } from '../src/storage/version.js';
import { insertRows, microsToDecimal, prng, utcPeriod } from './lib/seed.js';

export const chTime = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');

export type DiffSeed = {
  tenantId: string;
  metric: string;
  customers: number;
  periods: string[];
  counterRows: number;
  customerMappingRows: number;
  pushedTotalsRows: number;
  pushedTotalsKeys: number;
  adjustmentRows: number;
  approvedAdjustments: number;
  pushLogRows: number;
  openIntents: number;
  /** What diff(tenant, true) must return: items whose floor(local total) differs from pushed_total. */
  expectedChanged: number;
  /** What diff(tenant, false) must return: every item. */
  expectedItems: number;
  /** (tenant, metric, customer, period) keys of some items, for the alsoKeys variants. */
  sampleKeys: Array<[string, string, string, string]>;
};

/**
 * Part 1 data for one tenant: `customers` customers x 2 periods (previous and current UTC month) in
 * usage_period_counters, a customer mapping per customer (plus an older version for a tenth of them), one price
 * mapping, pushed_totals for about half of the items (60% up to date, 40% behind; a third of them with an older
 * version too), adjustments (3/4 approved, some with an earlier pending version), and push_log history (each
 * pushed item's last intent as pending then acked, plus a few hundred still open).
 */
export async function seedDiffTenant(
  client: ClickHouseClient,
  opts: { tenantId: string; metric: string; customers: number; adjustments: number; seed: number },
): Promise<DiffSeed> {
  const { tenantId, metric, customers } = opts;
  const rnd = prng(opts.seed);
  const periods = [utcPeriod(-1), utcPeriod(0)];
  const ref = (c: number) => `cust_${String(c).padStart(6, '0')}`;
  const nowMs = Date.now();

  // usage_period_counters: one row per (customer, period), as a merged SummingMergeTree would hold it.
  const local = new Map<string, number>(); // key -> micros
  const counters: object[] = [];
  for (let c = 0; c < customers; c++) {
    for (const period of periods) {
      // Whole units 1..100,000, and a fraction on 80% of the items.
      const micros = (1 + Math.floor(rnd() * 100_000)) * 1e6 + (rnd() < 0.8 ? Math.floor(rnd() * 1e6) : 0);
      local.set(`${c}|${period}`, micros);
      counters.push({
        tenant_id: tenantId,
        metric,
        customer_ref: ref(c),
        period,
        quantity: microsToDecimal(micros),
        events: 1 + Math.floor(rnd() * 5000),
      });
    }
  }
  await insertRows(client, 'usage_period_counters', counters);

  // customer_mappings: every customer, a tenth of them with an older (replaced) version.
  const older: object[] = [];
  const current: object[] = [];
  for (let c = 0; c < customers; c++) {
    const row = { tenant_id: tenantId, customer_ref: ref(c), stripe_customer_id: `cus_${(c * 2654435761).toString(36).padStart(14, '0').slice(-14)}` };
    if (c % 10 === 0) older.push({ ...row, stripe_customer_id: `cus_old${c}`, version: nextVersion() });
    current.push({ ...row, version: nextVersion() });
  }
  await insertRows(client, 'customer_mappings', older);
  await insertRows(client, 'customer_mappings', current);

  await insertRows(client, 'price_mappings', [
    { tenant_id: tenantId, metric, meter_id: `mtr_${tenantId}_${metric}`, event_name: `${tenantId}_${metric}`, active: 1, deleted: 0, version: nextVersion() },
  ]);

  // adjustments: 3/4 approved (a fifth of those first written as pending), 1/4 still pending; deltas -0.9..+50.
  const adjOld: object[] = [];
  const adjNow: object[] = [];
  let approved = 0;
  for (let i = 0; i < opts.adjustments; i++) {
    const c = Math.floor(rnd() * customers);
    const period = periods[Math.floor(rnd() * periods.length)]!;
    const micros = rnd() < 0.3 ? -Math.floor(rnd() * 900_000) : Math.floor(rnd() * 50_000_000);
    const status = i % 4 === 3 ? 'pending' : 'approved';
    const row = {
      id: `adj_${tenantId}_${i}`,
      tenant_id: tenantId,
      metric,
      customer_ref: ref(c),
      period,
      delta: microsToDecimal(micros),
      reason: 'correction',
      status,
      // An adjustment counts once approved: approved_by set (see migrations/0006_create_adjustments.sql).
      approved_by: status === 'approved' ? 'ops' : '',
    };
    if (status === 'approved') {
      approved++;
      const key = `${c}|${period}`;
      local.set(key, local.get(key)! + micros);
      if (i % 5 === 0) adjOld.push({ ...row, status: 'pending', approved_by: '', version: nextVersion() });
    }
    adjNow.push({ ...row, version: nextVersion() });
  }
  await insertRows(client, 'adjustments', adjOld);
  await insertRows(client, 'adjustments', adjNow);

  // pushed_totals for about half of the items; push_log holds the last intent of each (pending, then acked).
  const pushedOld: object[] = [];
  const pushedNow: object[] = [];
  const logRows: object[] = [];
  let changed = 0;
  let open = 0;
  const sampleKeys: Array<[string, string, string, string]> = [];
  for (let c = 0; c < customers; c++) {
    for (const period of periods) {
      const target = Math.floor(local.get(`${c}|${period}`)! / 1e6);
      if (sampleKeys.length < 20_000 && (c + period.length) % 2 === 0) sampleKeys.push([tenantId, metric, ref(c), period]);
      if (rnd() >= 0.5) {
        if (target !== 0) changed++;
        continue;
      }
      const upToDate = rnd() < 0.6;
      const pushed = upToDate ? target : Math.max(0, target - 1 - Math.floor(rnd() * 100));
      if (pushed !== target) changed++;
      const seq = 1 + Math.floor(rnd() * 3);
      const identifier = `sm_${tenantId}_${c}_${period}_${seq}`;
      const base = { tenant_id: tenantId, metric, customer_ref: ref(c), period };
      if (c % 3 === 0) pushedOld.push({ ...base, pushed_total: Math.max(0, pushed - 7), seq: seq - 1, last_identifier: `${identifier}_prev`, version: nextVersion() });
      pushedNow.push({ ...base, pushed_total: pushed, seq, last_identifier: identifier, version: nextVersion() });
      const intent = {
        identifier,
        ...base,
        seq,
        generation: 0,
        meter_id: `mtr_${tenantId}_${metric}`,
        event_name: `${tenantId}_${metric}`,
        stripe_customer_id: `cus_${c}`,
        base_total: Math.max(0, pushed - 7),
        target_total: pushed,
        value: Math.min(7, pushed),
        event_ts: Math.floor(nowMs / 1000) - 3600,
        next_attempt_at: chTime(nowMs - 3600_000),
        created_at: chTime(nowMs - 3600_000),
      };
      logRows.push({ ...intent, status: 'pending', version: nextVersion() });
      // A few hundred intents are still open (pending, or refused and waiting for a retry).
      const status = open < 300 && c % 97 === 0 ? (open % 3 === 0 ? 'failed' : 'pending') : 'acked';
      if (status !== 'acked') open++;
      else logRows.push({ ...intent, status, attempts: 1, last_http_status: 200, version: nextVersion() });
    }
  }
  await insertRows(client, 'pushed_totals', pushedOld);
  await insertRows(client, 'pushed_totals', pushedNow);
  await insertRows(client, 'push_log', logRows);

  return {
    tenantId,
    metric,
    customers,
    periods,
    counterRows: counters.length,
    customerMappingRows: older.length + current.length,
    pushedTotalsRows: pushedOld.length + pushedNow.length,
    pushedTotalsKeys: pushedNow.length,
    adjustmentRows: adjOld.length + adjNow.length,
    approvedAdjustments: approved,
    pushLogRows: logRows.length,
    openIntents: open,
    expectedChanged: changed,
    expectedItems: local.size,
    sampleKeys,
  };
}

/** Copies one tenant's rows to another tenant, server-side (for the all-tenants variant). */
export async function cloneTenant(client: ClickHouseClient, from: string, to: string): Promise<void> {
  const copies: Array<[string, string]> = [
    ['usage_period_counters', 'metric, customer_ref, period, quantity, events'],
    ['customer_mappings', 'customer_ref, stripe_customer_id, subscription_item_id, deleted, created_at, updated_at, version'],
    ['price_mappings', 'metric, meter_id, event_name, active, deleted, created_at, updated_at, version'],
    ['pushed_totals', 'metric, customer_ref, period, pushed_total, seq, last_identifier, updated_at, version'],
  ];
  for (const [table, cols] of copies) {
    await client.command({
      query: `INSERT INTO ${table} (tenant_id, ${cols}) SELECT {to:String}, ${cols} FROM ${table} WHERE tenant_id = {from:String}`,
      query_params: { from, to },
    });
  }
  const adjCols = 'metric, customer_ref, period, delta, reason, note, status, reverts_id, created_by, created_at, approved_by, approved_at, updated_by, updated_at, version';
  await client.command({
    query: `INSERT INTO adjustments (id, tenant_id, ${adjCols}) SELECT concat({to:String}, '_', id), {to:String}, ${adjCols} FROM adjustments WHERE tenant_id = {from:String}`,
    query_params: { from, to },
  });
}
