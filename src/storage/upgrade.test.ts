import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { openStorage, type Storage } from './client.js';
import { migrate, readMigrations } from './migrations.js';
import { loadSql } from './sql.js';

// A database that ran migrations up to 0013 and holds data written then, upgraded to the current schema: the counters'
// time projection must cover the parts written before 0014, late events replayed the old way (a newer version flagged
// 2) must read as replayed after 0015, event_keys must hold the keys stored before 0017, 0018 must carry every
// events row into the time-ordered table without the counters counting them again, and 0020 must give each bound
// Stripe customer one owner; events stored before the meter columns (0031) read as a plain sum and stay out of the
// meter states (0032).
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'stripemeter-upgrade-'));
const config = loadConfig({ STRIPEMETER_DATA_DIR: dataDir, LOG_LEVEL: 'silent', STRIPE_SANDBOX_PORT: '0' });
let storage: Storage;

async function rows<T>(query: string, params: Record<string, unknown> = {}): Promise<T[]> {
  const rs = await storage.jobs.query({ query, query_params: params, format: 'JSONEachRow' });
  return rs.json<T>();
}

const event = (key: string, ts: string, beyondWindow: number, ingestedAt: string) => ({
  tenant_id: 'up',
  idempotency_key: key,
  metric: 'calls',
  customer_ref: 'cus_1',
  quantity: '2.5',
  ts,
  period: '2026-11',
  payload_hash: key.padEnd(16, '0').slice(0, 16),
  beyond_window: beyondWindow,
  ingested_at: ingestedAt,
});

beforeAll(async () => {
  storage = await openStorage(config);
  await migrate(storage.jobs, {}, readMigrations().filter((m) => m.version <= 13));
  await storage.jobs.insert({
    table: 'events',
    values: [
      event('counted', '2026-11-20 10:00:00.000', 0, '2026-11-20 10:00:01.000'),
      event('late-open', '2026-11-20 11:00:00.000', 1, '2026-11-24 09:00:00.000'),
      event('late-replayed', '2026-11-20 12:00:00.000', 1, '2026-11-24 09:00:00.000'),
    ],
    format: 'JSONEachRow',
  });
  // How a replay recorded a counted late event before 0015.
  await storage.jobs.insert({ table: 'events', values: [event('late-replayed', '2026-11-20 12:00:00.000', 2, '2026-11-24 10:00:00.000')], format: 'JSONEachRow' });
  // Before 0020 two tenants could bind one Stripe customer: the first to bind it becomes its owner.
  await storage.jobs.insert({ table: 'tenants', values: [{ id: 'up', timezone: 'UTC' }], format: 'JSONEachRow' });
  const binding = (tenant: string, createdAt: string) => ({
    tenant_id: tenant,
    customer_ref: 'c',
    stripe_customer_id: 'cus_shared',
    created_at: createdAt,
    updated_at: createdAt,
    version: 1,
  });
  await storage.jobs.insert({
    table: 'customer_mappings',
    values: [binding('second', '2026-11-21 10:00:00.000'), binding('first', '2026-11-20 10:00:00.000')],
    format: 'JSONEachRow',
  });
  // A meter binding made before 0022, and an intent it planned: both were for Stripe's default payload keys.
  await storage.jobs.insert({
    table: 'price_mappings',
    values: [{ tenant_id: 'up', metric: 'calls', meter_id: 'mtr_old', event_name: 'calls_old', active: 1, version: 1 }],
    format: 'JSONEachRow',
  });
  await migrate(storage.jobs, {});
});
afterAll(async () => {
  await storage?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('upgrading a database with data', () => {
  it('gives existing tenants the platform Stripe account (0019) and a shared customer to its first binder (0020)', async () => {
    expect(await rows('SELECT id, stripe_account FROM tenants FINAL')).toEqual([{ id: 'up', stripe_account: '' }]);
    expect(await rows(loadSql('mappings/customer_owner'), { stripeCustomerId: 'cus_shared' })).toEqual([{ tenantId: 'first' }]);
  });

  it('gives existing meter bindings and intents the formula sum and Stripe\'s default payload keys (0022)', async () => {
    expect(await rows(loadSql('mappings/list_price_mappings'), { tenantId: 'up', metric: '' })).toMatchObject([
      { metric: 'calls', meterId: 'mtr_old', formula: 'sum', customerPayloadKey: 'stripe_customer_id', valuePayloadKey: 'value' },
    ]);
    expect(await rows("SELECT default_expression FROM system.columns WHERE database = currentDatabase() AND table = 'push_log' AND name IN ('customer_payload_key', 'value_payload_key') ORDER BY name")).toEqual([
      { default_expression: "'stripe_customer_id'" },
      { default_expression: "'value'" },
    ]);
  });

  it('builds the counters projection for parts written before migration 0014, and reorders events by time (0018)', async () => {
    const parts = await rows<{ table: string; name: string }>(
      "SELECT table, name FROM system.projection_parts WHERE active AND database = currentDatabase() AND table IN ('events', 'usage_hourly_counters')",
    );
    expect(new Set(parts.map((p) => p.name))).toEqual(new Set(['hourly_counters_by_time']));
    const [events] = await rows<{ sorting_key: string; primary_key: string }>(
      "SELECT sorting_key, primary_key FROM system.tables WHERE database = currentDatabase() AND name = 'events'",
    );
    expect(events).toEqual({
      sorting_key: 'tenant_id, toStartOfHour(ts), metric, customer_ref, ts, idempotency_key',
      primary_key: 'tenant_id, toStartOfHour(ts), metric, customer_ref',
    });
    const params = { tenantId: 'up', metrics: ['calls'], customerRefs: [], start: '2026-11-20 00:00:00.000', end: '2026-11-21 00:00:00.000' };
    const diff = loadSql('replay/stage_cells').replace(/^[\s\S]*?\nSELECT/, 'SELECT');
    const plan = (await rows<{ explain: string }>(`EXPLAIN projections = 1 ${diff}`, { ...params, replayId: 'x' })).map((r) => r.explain).join('\n');
    expect(plan).toContain('hourly_counters_by_time');
  });

  it('keeps every event through the reordering (versions collapsed as FINAL reads them), counts none again, and the views follow the new table', async () => {
    const stored = await rows<{ idempotency_key: string; beyond_window: number }>(
      "SELECT idempotency_key, beyond_window FROM events WHERE tenant_id = 'up' ORDER BY idempotency_key, beyond_window",
    );
    expect(stored).toEqual([
      { idempotency_key: 'counted', beyond_window: 0 },
      { idempotency_key: 'late-open', beyond_window: 1 },
      { idempotency_key: 'late-replayed', beyond_window: 2 },
    ]);
    const counters = async () =>
      (await rows<{ q: string; n: string }>("SELECT toString(sum(quantity)) AS q, toString(sum(events)) AS n FROM usage_period_counters WHERE tenant_id = 'up'"))[0];
    expect(await counters()).toEqual({ q: '2.5', n: '1' });
    const keys = await rows<{ idempotency_key: string }>("SELECT idempotency_key FROM event_keys FINAL WHERE tenant_id = 'up' ORDER BY idempotency_key");
    expect(keys.map((k) => k.idempotency_key)).toEqual(['counted', 'late-open', 'late-replayed']);
    await storage.jobs.insert({ table: 'events', values: [event('after-upgrade', '2026-11-22 13:00:00.000', 0, '2026-11-25 09:00:00.000')], format: 'JSONEachRow' });
    expect(await counters()).toEqual({ q: '5', n: '2' });
    expect(await rows("SELECT 1 FROM event_keys WHERE tenant_id = 'up' AND idempotency_key = 'after-upgrade'")).toHaveLength(1);
    expect(await rows("SELECT name FROM system.tables WHERE database = currentDatabase() AND name = 'events_reordered'")).toEqual([]);
    // 0021: the counters deduplicate a retried INSERT's blocks like events does.
    const counterEngines = await rows<{ engine_full: string }>(
      "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name IN ('usage_hourly_counters', 'usage_period_counters')",
    );
    expect(counterEngines.map((t) => /non_replicated_deduplication_window = 1000/.test(t.engine_full))).toEqual([true, true]);
  });

  it('records late events replayed the old way (flagged 2) as replayed, and leaves the others late', async () => {
    const replayed = await rows<{ idempotency_key: string; replay_id: string }>("SELECT idempotency_key, replay_id FROM replayed_events FINAL WHERE tenant_id = 'up'");
    expect(replayed).toEqual([{ idempotency_key: 'late-replayed', replay_id: '' }]);
    const view = await rows<{ idempotency_key: string; lateness: string }>(
      "SELECT idempotency_key, lateness FROM late_events WHERE tenant_id = 'up' ORDER BY idempotency_key",
    );
    expect(view).toEqual([
      { idempotency_key: 'late-open', lateness: 'beyond_window' },
      { idempotency_key: 'late-replayed', lateness: 'replayed' },
    ]);
    const params = { tenantId: 'up', metrics: ['calls'], customerRefs: [], start: '2026-11-20 00:00:00.000', end: '2026-11-21 00:00:00.000', replayId: 'rpl_up' };
    await storage.jobs.command({ query: loadSql('replay/stage_cells'), query_params: params });
    const diff = await rows<{ lateEvents: number | string; eventsScanned: number | string }>(loadSql('replay/items'), params);
    expect(diff.map((d) => [Number(d.lateEvents), Number(d.eventsScanned)])).toEqual([[1, 3]]);
  });

  it('gives events stored before 0031 no meter (a plain sum), counts none of them in the meter states (0032), and counts new metered events', async () => {
    const before = await rows<{ idempotency_key: string; aggregation: string; dimensions: Record<string, string>; unique_value: string }>(
      "SELECT idempotency_key, aggregation, dimensions, unique_value FROM events FINAL WHERE tenant_id = 'up' AND idempotency_key = 'counted'",
    );
    expect(before).toEqual([{ idempotency_key: 'counted', aggregation: '', dimensions: {}, unique_value: '' }]);
    const states = async () =>
      rows<{ events: string; users: string }>(
        "SELECT toString(sum(events)) AS events, toString(uniqExactMerge(distinct_values)) AS users FROM meter_period_states WHERE tenant_id = 'up'",
      );
    expect(await states()).toEqual([{ events: '0', users: '0' }]);
    const metered = (key: string, user: string) => ({
      ...event(key, '2026-11-23 10:00:00.000', 0, '2026-11-25 09:00:00.000'),
      metric: 'users',
      aggregation: 'unique_count',
      dimensions: { region: 'eu' },
      unique_value: user,
    });
    await storage.jobs.insert({ table: 'events', values: [metered('m1', 'u1'), metered('m2', 'u1'), metered('m3', 'u2')], format: 'JSONEachRow' });
    expect(await states()).toEqual([{ events: '3', users: '2' }]);
  });
});
