import { createHash } from 'node:crypto';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { toClickHouseTime } from './time.js';
import { createLogger } from '../log.js';
import { startService } from '../service.js';
import { openStorage, type Storage } from './client.js';
import { appliedMigrations, expandIncludes, migrate, migrationStatus, MigrationError, readMigrations } from './migrations.js';
import { migrationIncludesDir, migrationsDir, sqlDir } from './paths.js';

// chDB allows one data directory per process: every test here uses this one, closing storage before reopening.
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'stripemeter-migrations-'));
const scratch = mkdtempSync(path.join(os.tmpdir(), 'stripemeter-migration-files-'));
const config = loadConfig({ STRIPEMETER_DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', STRIPE_SANDBOX_PORT: '0' });
let storage: Storage;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const sourceFiles = () => readdirSync(migrationsDir).filter((f) => f.endsWith('.sql')).sort();
const labels = () => sourceFiles().map((f) => f.replace(/\.sql$/, ''));

async function rows<T>(query: string): Promise<T[]> {
  const rs = await storage.jobs.query({ query, format: 'JSONEachRow' });
  return rs.json<T>();
}

/** A fresh copy of migrations/ to edit. */
function copyMigrations(name: string): string {
  const dir = path.join(scratch, name);
  cpSync(migrationsDir, dir, { recursive: true });
  return dir;
}

beforeAll(async () => {
  storage = await openStorage(config);
});
afterAll(async () => {
  await storage?.close();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

describe('readMigrations', () => {
  it('lists every file in version order with its sha256', () => {
    const files = readMigrations();
    expect(files.length).toBeGreaterThanOrEqual(4);
    expect(files.map((m) => `${String(m.version).padStart(4, '0')}_${m.name}`)).toEqual(labels());
    expect(files.map((m) => m.version)).toEqual([...files.map((m) => m.version)].sort((a, b) => a - b));
    expect(files.slice(0, 4).map((m) => m.name)).toEqual(['create_tenants', 'create_api_keys', 'create_events', 'create_usage_counters']);
    for (const [i, m] of files.entries()) {
      // A file's {{include:...}} lines are inlined (migrations/includes/): the checksum covers what runs.
      const text = expandIncludes(readFileSync(path.join(migrationsDir, sourceFiles()[i]!), 'utf8'));
      expect(m.sql).toBe(text);
      expect(m.checksum).toBe(sha256(text));
    }
  });

  it('sorts by file name, not by directory order, and ignores other files', () => {
    const dir = path.join(scratch, 'order');
    cpSync(migrationsDir, dir, { recursive: true });
    writeFileSync(path.join(dir, 'README.md'), '# not a migration\n');
    writeFileSync(path.join(dir, '9999_create_zzz.sql'), 'CREATE TABLE IF NOT EXISTS zzz (a UInt8) ENGINE = MergeTree ORDER BY a;\n');
    writeFileSync(path.join(dir, '0999_create_aaa.sql'), 'CREATE TABLE IF NOT EXISTS aaa (a UInt8) ENGINE = MergeTree ORDER BY a;\n');
    const versions = readMigrations(dir).map((m) => m.version);
    expect(versions.at(-2)).toBe(999);
    expect(versions.at(-1)).toBe(9999);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
  });

  it('refuses a badly named file', () => {
    for (const bad of ['5_create_x.sql', '0005-create-x.sql', '0005_Create_X.sql', '00005_create_x.sql', 'create_x.sql']) {
      const dir = copyMigrations(`bad-${bad}`);
      writeFileSync(path.join(dir, bad), 'SELECT 1;\n');
      expect(() => readMigrations(dir), bad).toThrow(MigrationError);
      expect(() => readMigrations(dir), bad).toThrow(bad);
    }
  });

  it('checksums what an include brings, not where it lives: a moved include keeps its checksum, an edited one does not', () => {
    const dir = copyMigrations('moved-include');
    const includes = path.join(dir, 'includes');
    mkdirSync(path.join(includes, 'elsewhere'));
    const view = 'CREATE OR REPLACE VIEW moved {{on_cluster}} AS SELECT 1;\n';
    writeFileSync(path.join(includes, 'views', 'moved.sql'), view);
    writeFileSync(path.join(includes, 'elsewhere', 'moved_here.sql'), view);
    const checksum = (line: string) => {
      writeFileSync(path.join(dir, '9000_create_moved.sql'), `-- a view\n${line}\n`);
      return readMigrations(dir).find((m) => m.version === 9000)!.checksum;
    };
    const before = checksum('{{include:views/moved.sql}}');
    expect(checksum('  {{include:elsewhere/moved_here.sql}};')).toBe(before);
    writeFileSync(path.join(includes, 'elsewhere', 'moved_here.sql'), view.replace('SELECT 1', 'SELECT 2'));
    expect(checksum('{{include:elsewhere/moved_here.sql}}')).not.toBe(before);
  });

  it('keeps frozen files apart: every file in migrations/includes/ is included by a migration, none in sql/ is', () => {
    const listed = (dir: string): string[] =>
      readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.sql')).map((f) => f.split(path.sep).join('/')).sort();
    const included = sourceFiles()
      .flatMap((f) => [...readFileSync(path.join(migrationsDir, f), 'utf8').matchAll(/\{\{include:([^}\n]*)\}\}/g)].map((m) => m[1]!.trim()))
      .sort();
    expect(included.length).toBeGreaterThan(0);
    expect(listed(migrationIncludesDir)).toEqual([...new Set(included)].sort());
    const frozenText = new Set(included.map((f) => readFileSync(path.join(migrationIncludesDir, f), 'utf8').trim()));
    for (const f of listed(sqlDir)) expect(frozenText.has(readFileSync(path.join(sqlDir, f), 'utf8').trim()), f).toBe(false);
  });

  it('refuses two files with one version', () => {
    const dir = copyMigrations('dup');
    writeFileSync(path.join(dir, '0001_create_other.sql'), 'SELECT 1;\n');
    expect(() => readMigrations(dir)).toThrow(/two migrations share version 0001/);
  });
});

describe('migrate on the embedded engine', () => {
  it('applies every file once, in order, and records its checksum', async () => {
    const logged: string[] = [];
    const first = await migrate(storage.jobs, {}, readMigrations(), (m) => logged.push(m));
    expect(first.applied).toEqual(labels());
    expect(first.alreadyApplied).toBe(0);
    expect(logged).toEqual(labels().map((l) => `applying migration ${l}`));

    const tables = (await rows<{ name: string }>('SELECT name FROM system.tables WHERE database = currentDatabase()')).map((t) => t.name);
    for (const t of ['schema_migrations', 'tenants', 'api_keys', 'events', 'usage_hourly_counters', 'usage_period_counters', 'usage_hourly_counters_mv_events', 'usage_period_counters_mv_events']) {
      expect(tables).toContain(t);
    }
  });

  it('is idempotent: a second run applies nothing and the ledger has one row per file', async () => {
    const second = await migrate(storage.jobs, {}, readMigrations());
    expect(second).toEqual({ applied: [], alreadyApplied: labels().length });
    // Without FINAL: a re-applied migration would show as a second row.
    const ledger = await rows<{ version: number; name: string; checksum: string }>(
      'SELECT version, name, checksum FROM schema_migrations ORDER BY version',
    );
    const files = readMigrations();
    expect(ledger).toEqual(files.map((m) => ({ version: m.version, name: m.name, checksum: m.checksum })));
    for (const [i, f] of sourceFiles().entries()) {
      expect(ledger[i]!.checksum).toBe(sha256(expandIncludes(readFileSync(path.join(migrationsDir, f), 'utf8'))));
    }
    expect(await migrationStatus(storage.jobs)).toEqual({ applied: files.length, pending: [], edited: [], unknown: [] });
  });

  it('refuses to run when an applied file was edited, naming the file, and changes nothing', async () => {
    const dir = copyMigrations('edited');
    // The unedited copy matches what was applied.
    expect((await migrate(storage.jobs, {}, readMigrations(dir))).applied).toEqual([]);
    appendFileSync(path.join(dir, '0002_create_api_keys.sql'), '\n-- an innocent-looking comment\n');
    writeFileSync(path.join(dir, '9000_create_widgets.sql'), 'CREATE TABLE IF NOT EXISTS widgets (a UInt8) ENGINE = MergeTree ORDER BY a;\n');
    const edited = readMigrations(dir);
    await expect(migrate(storage.jobs, {}, edited)).rejects.toThrow(MigrationError);
    await expect(migrate(storage.jobs, {}, edited)).rejects.toThrow(/edited after they ran: 0002_create_api_keys\b/);
    // Nothing after the edited file ran: the pending migration was not applied.
    const tables = await rows<{ n: string }>("SELECT count() AS n FROM system.tables WHERE database = currentDatabase() AND name = 'widgets'");
    expect(Number(tables[0]!.n)).toBe(0);
    const status = await migrationStatus(storage.jobs, edited);
    expect(status.edited).toEqual(['0002_create_api_keys']);
    expect(status.pending).toEqual(['9000_create_widgets']);
    // The real files still match.
    expect((await migrationStatus(storage.jobs)).edited).toEqual([]);
  });

  it('startService refuses to start when the database holds another checksum for a file', async () => {
    const files = readMigrations();
    const target = files[2]!;
    const label = `${String(target.version).padStart(4, '0')}_${target.name}`;
    // A newer ledger row for an applied version (ReplacingMergeTree(applied_at) keeps it under FINAL).
    await storage.jobs.insert({
      table: 'schema_migrations',
      values: [{ version: target.version, name: target.name, checksum: sha256('some other text'), applied_at: toClickHouseTime(Date.now() + 1000) }],
      format: 'JSONEachRow',
    });
    expect((await migrationStatus(storage.jobs)).edited).toEqual([label]);

    await storage.close();
    try {
      await expect(startService(config, createLogger('silent'))).rejects.toThrow(MigrationError);
      await expect(startService(config, createLogger('silent'))).rejects.toThrow(new RegExp(`edited after they ran: ${label}`));
    } finally {
      storage = await openStorage(config);
    }

    // Restoring the original checksum lets it start again.
    await storage.jobs.insert({
      table: 'schema_migrations',
      values: [{ version: target.version, name: target.name, checksum: target.checksum, applied_at: toClickHouseTime(Date.now() + 5000) }],
      format: 'JSONEachRow',
    });
    await storage.close();
    try {
      const svc = await startService(config, createLogger('silent'));
      try {
        const r = await fetch(`${svc.url}/health/ready`);
        expect(r.status).toBe(200);
        expect(((await r.json()) as { checks: Record<string, { status: string }> }).checks.migrations!.status).toBe('pass');
      } finally {
        await svc.stop();
      }
    } finally {
      storage = await openStorage(config);
    }
  });

  it('applies a new file only, and then refuses a build that does not know it', async () => {
    const dir = copyMigrations('added');
    writeFileSync(
      path.join(dir, '9001_create_gadgets.sql'),
      '-- a later migration\nCREATE TABLE IF NOT EXISTS gadgets {{on_cluster}} (a UInt8) ENGINE = MergeTree ORDER BY a;\n',
    );
    const r = await migrate(storage.jobs, {}, readMigrations(dir));
    expect(r).toEqual({ applied: ['9001_create_gadgets'], alreadyApplied: labels().length });
    expect((await appliedMigrations(storage.jobs)).map((a) => a.version).at(-1)).toBe(9001);
    await expect(migrate(storage.jobs, {}, readMigrations())).rejects.toThrow(/does not know: 9001_create_gadgets/);
    expect((await migrationStatus(storage.jobs)).unknown).toEqual(['9001_create_gadgets']);
  });
});
