import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { migrationsDir } from './paths.js';
import { renderMigration, type RenderTarget } from './render.js';

export type Migration = { version: number; name: string; checksum: string; sql: string };
export type AppliedMigration = { version: number; name: string; checksum: string; applied_at: string };

export class MigrationError extends Error {}

const fileName = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export function readMigrations(dir = migrationsDir): Migration[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.sql')).sort();
  const seen = new Set<number>();
  return files.map((file) => {
    const m = fileName.exec(file);
    if (!m) throw new MigrationError(`migration file ${file} is not named NNNN_verb_object.sql`);
    const version = Number(m[1]);
    if (seen.has(version)) throw new MigrationError(`two migrations share version ${m[1]}`);
    seen.add(version);
    const sql = readFileSync(path.join(dir, file), 'utf8');
    return { version, name: m[2]!, checksum: createHash('sha256').update(sql).digest('hex'), sql };
  });
}

const ledgerDdl = `CREATE TABLE IF NOT EXISTS schema_migrations {{on_cluster}} (
  version UInt32,
  name String,
  checksum String,
  applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree(applied_at)
ORDER BY version`;

export async function appliedMigrations(client: ClickHouseClient): Promise<AppliedMigration[]> {
  const rs = await client.query({
    query: 'SELECT version, name, checksum, toString(applied_at) AS applied_at FROM schema_migrations FINAL ORDER BY version',
    format: 'JSONEachRow',
  });
  return rs.json<AppliedMigration>();
}

export type MigrationStatus = { applied: number; pending: string[]; edited: string[]; unknown: string[] };

export function compareMigrations(files: Migration[], applied: AppliedMigration[]): MigrationStatus {
  const byVersion = new Map(files.map((m) => [m.version, m]));
  const appliedVersions = new Set(applied.map((a) => a.version));
  const label = (v: number, name: string) => `${String(v).padStart(4, '0')}_${name}`;
  return {
    applied: applied.length,
    pending: files.filter((m) => !appliedVersions.has(m.version)).map((m) => label(m.version, m.name)),
    edited: applied
      .filter((a) => byVersion.has(a.version) && byVersion.get(a.version)!.checksum !== a.checksum)
      .map((a) => label(a.version, a.name)),
    unknown: applied.filter((a) => !byVersion.has(a.version)).map((a) => label(a.version, a.name)),
  };
}

export type MigrateResult = { applied: string[]; alreadyApplied: number };

/**
 * Applies pending migrations in order. Refuses to run when an applied migration's file changed or vanished:
 * the database would no longer match the source, and silently carrying on is how schemas drift.
 */
export async function migrate(
  client: ClickHouseClient,
  target: RenderTarget,
  files: Migration[] = readMigrations(),
  log: (msg: string) => void = () => {},
): Promise<MigrateResult> {
  for (const statement of renderMigration(ledgerDdl, target)) await client.command({ query: statement });
  const status = compareMigrations(files, await appliedMigrations(client));
  if (status.edited.length > 0) {
    throw new MigrationError(
      `applied migrations were edited after they ran: ${status.edited.join(', ')}. ` +
        'Restore the original files and add a new migration for the change.',
    );
  }
  if (status.unknown.length > 0) {
    throw new MigrationError(`the database has migrations this build does not know: ${status.unknown.join(', ')}`);
  }
  const applied: string[] = [];
  const done = new Set((await appliedMigrations(client)).map((a) => a.version));
  for (const m of files) {
    if (done.has(m.version)) continue;
    const label = `${String(m.version).padStart(4, '0')}_${m.name}`;
    log(`applying migration ${label}`);
    for (const statement of renderMigration(m.sql, target)) await client.command({ query: statement });
    await client.insert({
      table: 'schema_migrations',
      values: [{ version: m.version, name: m.name, checksum: m.checksum }],
      format: 'JSONEachRow',
    });
    applied.push(label);
  }
  return { applied, alreadyApplied: files.length - applied.length };
}

export async function migrationStatus(client: ClickHouseClient, files: Migration[] = readMigrations()): Promise<MigrationStatus> {
  return compareMigrations(files, await appliedMigrations(client));
}
