import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { openStorage, type Storage } from './client.js';
import { migrate, readMigrations } from './migrations.js';
import { loadSql } from './sql.js';

// A database that ran migrations up to 0013 and holds data written then, upgraded to the current schema: the time
// projections must cover the parts written before 0014, and late events replayed the old way (a newer version flagged
// 2) must read as replayed after 0015.
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
  await migrate(storage.jobs, {});
});
afterAll(async () => {
  await storage?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('upgrading a database with data', () => {
  it('builds the time projections for parts written before migration 0014', async () => {
    const parts = await rows<{ table: string; name: string }>(
      "SELECT table, name FROM system.projection_parts WHERE active AND database = currentDatabase() AND table IN ('events', 'usage_hourly_counters')",
    );
    expect(new Set(parts.map((p) => p.name))).toEqual(new Set(['events_by_time', 'hourly_counters_by_time']));
    const params = { tenantId: 'up', metrics: ['calls'], customerRefs: [], start: '2026-11-20 00:00:00.000', end: '2026-11-21 00:00:00.000' };
    const diff = loadSql('replay/stage_cells').replace(/^[\s\S]*?\nSELECT/, 'SELECT');
    const plan = (await rows<{ explain: string }>(`EXPLAIN projections = 1 ${diff}`, { ...params, replayId: 'x' })).map((r) => r.explain).join('\n');
    expect(plan).toContain('events_by_time');
    expect(plan).toContain('hourly_counters_by_time');
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
});
