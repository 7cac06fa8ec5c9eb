import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { migrationIncludesDir, migrationsDir } from './paths.js';
import { renderMigration, type RenderTarget } from './render.js';

/** `sql` is the file with its includes inlined: what runs, and what the checksum covers. */
export type Migration = { version: number; name: string; checksum: string; sql: string };
export type AppliedMigration = { version: number; name: string; checksum: string; applied_at: string };

export class MigrationError extends Error {}

const fileName = /^(\d{4})_([a-z0-9_]+)\.sql$/;

const includeLine = /^[ \t]*\{\{include:([^}\n]*)\}\}[ \t]*;?[ \t]*$/gm;

/**
 * Inlines each line `{{include:views/usage_hourly.sql}}` (a path under migrations/includes/) with that file's
 * statements, so a view has one source that analysts read and the migration applies. The inlined text is what runs
 * and what the checksum covers: editing an included file after its migration ran is refused like editing the
 * migration. The include line itself is replaced whole, so no path reaches the checksum: an included file may move
 * (with its include line) without changing an applied checksum. A file without includes is returned unchanged (its
 * checksum stays the sha256 of the file). Includes do not nest.
 */
export function expandIncludes(sql: string, includeDir = migrationIncludesDir, from = 'migration'): string {
  return sql.replace(includeLine, (_line, target: string) => {
    const rel = target.trim();
    const resolved = path.resolve(includeDir, rel);
    if (!rel.endsWith('.sql') || path.isAbsolute(rel) || !resolved.startsWith(path.resolve(includeDir) + path.sep)) {
      throw new MigrationError(`${from}: {{include:${rel}}} must name a .sql file under migrations/includes/ (e.g. views/usage_hourly.sql)`);
    }
    let text: string;
    try {
      text = readFileSync(resolved, 'utf8');
    } catch {
      throw new MigrationError(`${from}: {{include:${rel}}}: no such file ${resolved}`);
    }
    if (text.includes('{{include:')) throw new MigrationError(`${from}: ${rel} includes another file; includes do not nest`);
    const body = text.trim();
    // The statement ends where the file ends (a trailing comment would swallow a ';' on the same line).
    return body.endsWith(';') ? body : `${body}\n;`;
  });
}

/** Reads `dir`'s migrations; their includes come from `dir`/includes, so a copy of the folder is self-contained. */
export function readMigrations(dir = migrationsDir, includeDir = path.join(dir, 'includes')): Migration[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.sql')).sort();
  const seen = new Set<number>();
  return files.map((file) => {
    const m = fileName.exec(file);
    if (!m) throw new MigrationError(`migration file ${file} is not named NNNN_verb_object.sql`);
    const version = Number(m[1]);
    if (seen.has(version)) throw new MigrationError(`two migrations share version ${m[1]}`);
    seen.add(version);
    const sql = expandIncludes(readFileSync(path.join(dir, file), 'utf8'), includeDir, file);
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
