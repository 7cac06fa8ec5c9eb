import { existsSync } from 'node:fs';
import { cp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { appliedMigrations, migrate, MigrationError, readMigrations } from '../storage/migrations.js';
import { attachPart, backupTables, truncateTable } from '../storage/queries/lifecycle.js';
import type { RenderTarget } from '../storage/render.js';
import { partNameOf, readManifest } from './backup.js';

export type RestoreResult = { snapshot: string; createdAt: string; tables: number; parts: number; rows: number; migrationsApplied: string[]; ms: number };

/** Present while a restore runs: a service refuses to start on a half-restored data directory. */
export const restoreMarker = (dataDir: string) => path.join(dataDir, 'restore-in-progress.json');

export class RestoreError extends Error {}

export function assertNoRestoreInProgress(dataDir: string): void {
  if (existsSync(restoreMarker(dataDir))) {
    throw new RestoreError(`a restore into ${dataDir} did not finish: run 'stripemeter restore' again (it starts over) before starting the service`);
  }
}

/** Parts attach in their original insert order (block numbers): ReplacingMergeTree keeps the last of equal keys. */
const blockOf = (part: string) => Number(part.split('_')[1] ?? 0);

/**
 * Restores a backup into the (empty) data directory the client's engine runs on, with the service stopped: the
 * schema as of the backup (its migrations), every table's parts attached, then the migrations added since (an upgrade).
 * Interrupted, it leaves its marker, and running it again starts over.
 */
export async function restore(opts: {
  client: ClickHouseClient;
  dataDir: string;
  target: RenderTarget;
  dir: string;
  snapshot?: string;
  log?: (msg: string) => void;
}): Promise<RestoreResult> {
  const started = performance.now();
  const { client, dataDir, dir } = opts;
  const log = opts.log ?? (() => {});
  const manifest = await readManifest(dir, opts.snapshot);
  const marker = restoreMarker(dataDir);
  const files = readMigrations();

  const known = new Map(files.map((f) => [f.version, f]));
  for (const m of manifest.migrations) {
    const f = known.get(m.version);
    if (!f || f.checksum !== m.checksum) {
      throw new RestoreError(`the backup's migration ${m.version}_${m.name} is not this build's: restore with the build that made the backup, then upgrade`);
    }
  }
  const inBackup = new Set(manifest.migrations.map((m) => m.version));
  if (!existsSync(marker)) {
    const existing = await backupTables(client, {});
    const ledger = existing.some((t) => t.name === 'schema_migrations');
    const newer = ledger ? (await appliedMigrations(client)).filter((a) => !inBackup.has(a.version)) : [];
    const holding = existing.filter((t) => t.rows > 0 && t.name !== 'schema_migrations');
    if (newer.length > 0 || holding.length > 0) {
      throw new RestoreError(
        `restore needs an empty data directory, and ${dataDir} holds data (${holding.map((t) => t.name).join(', ') || `migrations ${newer.map((a) => a.version).join(', ')}`}): point STRIPEMETER_DATA_DIR at a new directory`,
      );
    }
  }
  await writeFile(marker, JSON.stringify({ snapshot: manifest.id, startedAt: new Date().toISOString() }), { mode: 0o600 });

  await migrate(client, opts.target, files.filter((f) => inBackup.has(f.version)), log);
  const tables = new Map((await backupTables(client, {})).map((t) => [t.name, t]));
  let parts = 0;
  for (const t of manifest.tables) {
    // The migrations ledger is the migrations' own: migrate() wrote it above.
    if (t.name === 'schema_migrations') continue;
    const live = tables.get(t.name);
    if (!live) throw new MigrationError(`the backup has a table ${t.name} that its migrations did not create`);
    await truncateTable(client, { table: t.name });
    const ordered = [...t.parts].sort((a, b) => blockOf(a) - blockOf(b));
    for (const dirName of ordered) {
      const part = partNameOf(dirName);
      const detached = path.join(live.dataPath, 'detached', part);
      await rm(detached, { recursive: true, force: true });
      await cp(path.join(dir, 'parts', t.name, dirName), detached, { recursive: true });
      await attachPart(client, { table: t.name, part });
      parts++;
    }
    log(`restored ${t.name}: ${t.parts.length} parts, ${t.rows} rows`);
  }
  // The ingest key filter's snapshot describes the keys before the restore; the next start rebuilds it from event_keys.
  await rm(path.join(dataDir, 'dedupe'), { recursive: true, force: true });
  const upgrade = await migrate(client, opts.target, files, log);
  await rm(marker, { force: true });
  return {
    snapshot: manifest.id,
    createdAt: manifest.createdAt,
    tables: manifest.tables.length,
    parts,
    rows: manifest.tables.reduce((n, t) => n + t.rows, 0),
    migrationsApplied: upgrade.applied,
    ms: performance.now() - started,
  };
}

