import type { ClickHouseClient } from '@clickhouse/client';
import { renderStatement, type RenderTarget } from './render.js';
import { loadSql } from './sql.js';
import { tableEngines, viewTargets } from './queries/storage.js';

/**
 * INGEST_DURABILITY. `none`: an acknowledged ingest is in the OS page cache (survives a killed process, not a
 * power loss). `fsync`: every part an ingest INSERT writes is fdatasync'ed before the INSERT returns.
 */
export const durabilityModes = ['none', 'fsync'] as const;
export type IngestDurability = (typeof durabilityModes)[number];

export type DurabilityChange = { table: string; fsync: boolean };

/**
 * Tables the ingest commit inserts into directly; the counter tables (and any later view target) are found from
 * their materialized views. `watermarks` is written in the same commit, before the request is answered.
 */
const ingestTables = (target: RenderTarget) => [target.cluster ? 'events_local' : 'events', 'watermarks'];

/** Every table an ingest commit writes: the tables it inserts into and, transitively, their views' target tables. */
export async function ingestWrittenTables(client: ClickHouseClient, target: RenderTarget): Promise<string[]> {
  const seen = new Set(ingestTables(target));
  let frontier = [...seen];
  while (frontier.length > 0) {
    frontier = (await viewTargets(client, { tables: frontier })).map((r) => r.target).filter((n) => !seen.has(n));
    for (const n of frontier) seen.add(n);
  }
  return [...seen].sort();
}

/** What fsync_on.sql sets and fsync_off.sql resets. */
const fsyncSettings = ['fsync_after_insert', 'fsync_part_directory', 'min_rows_to_fsync_after_merge'];
const settingOn = (engineFull: string, name: string) => new RegExp(`\\b${name} = 1\\b`).test(engineFull);
const settingSet = (engineFull: string, name: string) => new RegExp(`\\b${name} = `).test(engineFull);

/**
 * Makes the fsync MergeTree settings of every table an ingest commit writes match `mode`; idempotent, and only
 * tables whose settings differ are altered (so a restart in the same mode issues no ALTER, nor ON CLUSTER DDL).
 * They are table settings, shared by every process on the database: the last one started decides.
 */
export async function applyIngestDurability(
  client: ClickHouseClient,
  mode: IngestDurability,
  target: RenderTarget,
): Promise<DurabilityChange[]> {
  const tables = await ingestWrittenTables(client, target);
  const changes: DurabilityChange[] = [];
  for (const t of await tableEngines(client, { tables })) {
    if (!t.engine.endsWith('MergeTree')) continue;
    const wanted = mode === 'fsync';
    const matches = wanted ? fsyncSettings.every((k) => settingOn(t.engineFull, k)) : !fsyncSettings.some((k) => settingSet(t.engineFull, k));
    if (matches) continue;
    // DDL: the table name is a query parameter (an Identifier), rendered per deployment; not a data-access query.
    const statement = renderStatement(loadSql(wanted ? 'storage/fsync_on' : 'storage/fsync_off'), target)!;
    await client.command({ query: statement, query_params: { table: t.name } });
    changes.push({ table: t.name, fsync: wanted });
  }
  return changes;
}
