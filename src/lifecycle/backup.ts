import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { z } from 'zod';
import { ensurePrivateDir, privateFileMode } from '../storage/private-files.js';
import { appliedMigrations } from '../storage/migrations.js';
import { backupTables, freezeTable } from '../storage/queries/lifecycle.js';

/**
 * A backup directory holds parts, each copied once, and snapshots that list them (docs/backup.md):
 *
 *   parts/<table>/<part name>.<checksum>/   an immutable engine part, as frozen
 *   snapshots/<id>.json                     one backup: the schema's migrations and every table's parts
 *
 * A part is named by the hash of its checksums.txt, so the next backup into the same directory copies only the parts
 * that are new since (inserts and merges): incremental at the part level. A snapshot file appears (renamed into place)
 * only once all its parts are there, so a backup killed half-way leaves no snapshot, and the next one completes it.
 */
export const manifestSchema = z.object({
  format: z.literal(1),
  id: z.string().regex(/^[0-9TZ-]+[a-f0-9]+$/),
  createdAt: z.string(),
  migrations: z.array(z.object({ version: z.number().int(), name: z.string(), checksum: z.string() })),
  pauseMs: z.number(),
  tables: z.array(z.object({ name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), engine: z.string(), rows: z.number(), parts: z.array(z.string()) })),
});
export type BackupManifest = z.infer<typeof manifestSchema>;

export type BackupProgress = { phase: 'snapshot' | 'copying' | 'done'; parts: number; partsCopied: number; partsReused: number; bytesCopied: number };

export type BackupResult = {
  id: string;
  dir: string;
  tables: number;
  rows: number;
  parts: number;
  partsCopied: number;
  partsReused: number;
  bytesCopied: number;
  /** How long every table's freeze took, with writes held (not counting the wait for a running push or reconciliation). */
  pauseMs: number;
  ms: number;
};

export type BackupOptions = {
  client: ClickHouseClient;
  /** The embedded engine's directory (`<data dir>/clickhouse`): frozen parts appear under its `shadow/`. */
  engineDir: string;
  dir: string;
  /** Runs its argument while nothing writes: the freeze of every table is then one point in time. */
  quiesce: <T>(fn: () => Promise<T>) => Promise<T>;
  onProgress?: (p: BackupProgress) => void;
};

const freezePrefix = 'stripemeter_backup_';
const partDirName = (part: string, checksum: string) => `${part}.${checksum}`;
export const partNameOf = (dirName: string) => dirName.slice(0, dirName.lastIndexOf('.'));

export async function backup(opts: BackupOptions): Promise<BackupResult> {
  const started = performance.now();
  const { client, engineDir, dir } = opts;
  for (const d of [dir, path.join(dir, 'parts'), path.join(dir, 'snapshots')]) ensurePrivateDir(d);
  await removeLeftovers(engineDir, dir);

  const migrations = (await appliedMigrations(client)).map(({ version, name, checksum }) => ({ version, name, checksum }));
  let tables: Awaited<ReturnType<typeof backupTables>> = [];
  const now = new Date();
  // Sorts by time (to the millisecond): the latest snapshot is the last name.
  const id = `${now.toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}`;
  const freezeName = `${freezePrefix}${randomBytes(6).toString('hex')}`;
  const progress: BackupProgress = { phase: 'snapshot', parts: 0, partsCopied: 0, partsReused: 0, bytesCopied: 0 };
  opts.onProgress?.({ ...progress });

  let pauseMs = 0;
  await opts.quiesce(async () => {
    const frozen = performance.now();
    // Listed while nothing writes, so an empty table is empty at the snapshot's point too: it needs no freeze.
    tables = await backupTables(client, {});
    for (const t of tables) if (t.rows > 0) await freezeTable(client, { table: t.name, name: freezeName });
    pauseMs = performance.now() - frozen;
  });

  try {
    const shadow = path.join(engineDir, 'shadow', freezeName);
    const listed = await Promise.all(
      tables.map(async (t) => {
        const frozenDir = path.join(shadow, path.relative(engineDir, t.dataPath));
        const parts = existsSync(frozenDir) ? (await readdir(frozenDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name) : [];
        return { table: t, frozenDir, parts };
      }),
    );
    progress.phase = 'copying';
    progress.parts = listed.reduce((n, l) => n + l.parts.length, 0);
    opts.onProgress?.({ ...progress });

    const manifestTables: BackupManifest['tables'] = [];
    let rows = 0;
    for (const { table, frozenDir, parts } of listed) {
      const tableDir = path.join(dir, 'parts', table.name);
      ensurePrivateDir(tableDir);
      const names: string[] = [];
      let tableRows = 0;
      for (const part of parts) {
        const source = path.join(frozenDir, part);
        const checksum = createHash('sha256').update(await readFile(path.join(source, 'checksums.txt'))).digest('hex').slice(0, 16);
        const name = partDirName(part, checksum);
        const target = path.join(tableDir, name);
        tableRows += Number((await readFile(path.join(source, 'count.txt'), 'utf8').catch(() => '0')).trim()) || 0;
        if (existsSync(target)) {
          progress.partsReused++;
        } else {
          const tmp = path.join(tableDir, `.tmp-${name}`);
          await cp(source, tmp, { recursive: true });
          progress.bytesCopied += await dirBytes(tmp);
          await rename(tmp, target);
          progress.partsCopied++;
        }
        names.push(name);
        opts.onProgress?.({ ...progress });
      }
      rows += tableRows;
      manifestTables.push({ name: table.name, engine: table.engine, rows: tableRows, parts: names });
    }

    const manifest: BackupManifest = { format: 1, id, createdAt: now.toISOString(), migrations, pauseMs: Math.round(pauseMs), tables: manifestTables };
    await writeFileDurably(path.join(dir, 'snapshots', `${id}.json`), JSON.stringify(manifest, null, 2));
    progress.phase = 'done';
    opts.onProgress?.({ ...progress });
    return {
      id,
      dir,
      tables: tables.length,
      rows,
      parts: progress.parts,
      partsCopied: progress.partsCopied,
      partsReused: progress.partsReused,
      bytesCopied: progress.bytesCopied,
      pauseMs: manifest.pauseMs,
      ms: performance.now() - started,
    };
  } finally {
    await rm(path.join(engineDir, 'shadow', freezeName), { recursive: true, force: true });
  }
}

/** The snapshot `id` of a backup directory, or its latest one. */
export async function readManifest(dir: string, id?: string): Promise<BackupManifest> {
  const snapshots = path.join(dir, 'snapshots');
  const files = existsSync(snapshots) ? (await readdir(snapshots)).filter((f) => f.endsWith('.json')).sort() : [];
  const file = id ? `${id}.json` : files.at(-1);
  if (!file || !files.includes(file)) {
    throw new Error(id ? `no snapshot ${id} in ${dir}` : `no complete backup in ${dir} (no snapshots/*.json)`);
  }
  return manifestSchema.parse(JSON.parse(await readFile(path.join(snapshots, file), 'utf8')));
}

/** What a killed backup left: frozen links in the engine's shadow/ and half-copied parts. */
async function removeLeftovers(engineDir: string, dir: string): Promise<void> {
  const shadow = path.join(engineDir, 'shadow');
  if (existsSync(shadow)) {
    for (const e of await readdir(shadow)) if (e.startsWith(freezePrefix)) await rm(path.join(shadow, e), { recursive: true, force: true });
  }
  const parts = path.join(dir, 'parts');
  for (const table of await readdir(parts)) {
    for (const e of await readdir(path.join(parts, table))) if (e.startsWith('.tmp-')) await rm(path.join(parts, table, e), { recursive: true, force: true });
  }
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    total += e.isDirectory() ? await dirBytes(p) : (await stat(p)).size;
  }
  return total;
}

/** Written to a temporary file, synced, then renamed: a reader sees the whole file or none. */
async function writeFileDurably(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp`;
  await rm(tmp, { force: true });
  const fh = await open(tmp, 'w', privateFileMode);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}
