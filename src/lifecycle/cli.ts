import path from 'node:path';
import { parseArgs } from 'node:util';
import { createClient } from '../../clients/typescript/src/index.js';
import { serverUrl } from '../server-url.js';
import type { BackupJob } from './backup-jobs.js';

export const backupUsage = `stripemeter backup DIR [--url URL] [--key KEY]

Backs up a running server's data (embedded engine) into DIR, online: every table is frozen at one point, writes wait
a few milliseconds, then the parts not already in DIR are copied. A later backup into the same DIR copies only what
changed. DIR must be inside the server's BACKUP_ROOT. The admin key comes from STRIPEMETER_KEY, the server from
STRIPEMETER_URL (default http://127.0.0.1:3000). Exit status: 0 when the backup is complete, 1 otherwise.`;

export const restoreUsage = `stripemeter restore DIR [--snapshot ID]

Restores DIR's latest backup (or snapshot ID) into STRIPEMETER_DATA_DIR, which must be a new, empty data directory;
with the service stopped (in embedded mode one process owns the data). Then start the service on it. Interrupted,
run it again: it starts over.`;

type Io = { env: NodeJS.ProcessEnv; out: (t: string) => void; err: (t: string) => void; fetch: typeof fetch; pollMs: number };
const defaultIo = (): Io => ({ env: process.env, out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t), fetch: globalThis.fetch, pollMs: 500 });

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/** `stripemeter backup`: starts the backup on the server and follows it to the end. Returns the exit status. */
export async function runBackupCli(argv: string[], io: Io = defaultIo()): Promise<number> {
  let args;
  try {
    args = parseArgs({ args: argv, allowPositionals: true, options: { url: { type: 'string' }, key: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  } catch (e) {
    io.err(`stripemeter backup: ${(e as Error).message}\n\n${backupUsage}\n`);
    return 2;
  }
  if (args.values.help) {
    io.out(`${backupUsage}\n`);
    return 0;
  }
  const key = args.values.key ?? io.env.STRIPEMETER_KEY;
  if (args.positionals.length !== 1 || !key) {
    io.err(`stripemeter backup: ${key ? 'give one directory' : 'no admin key: set STRIPEMETER_KEY or pass --key'}\n\n${backupUsage}\n`);
    return 2;
  }
  const base = serverUrl(args.values.url, io.env);
  const client = createClient({ baseUrl: base, apiKey: key, fetch: io.fetch });
  const fail = (status: number, error: { error?: { code?: string; message?: string } } | undefined) => {
    io.err(`stripemeter backup: ${status} ${error?.error?.code ?? ''}: ${error?.error?.message ?? JSON.stringify(error)}\n`);
    return 1;
  };
  try {
    // Relative to where the command runs, as a user means it; the server checks it against its BACKUP_ROOT.
    const started = await client.POST('/v1/admin/backups', { body: { dir: path.resolve(args.positionals[0]!) } });
    if (!started.data) return fail(started.response.status, started.error);
    let job: BackupJob = started.data;
    let lastLine = '';
    while (job.status === 'running') {
      await new Promise((r) => setTimeout(r, io.pollMs));
      const polled = await client.GET('/v1/admin/backups/{id}', { params: { path: { id: job.id } } });
      if (!polled.data) return fail(polled.response.status, polled.error);
      job = polled.data;
      const p = job.progress;
      const line = `${p.phase}: ${p.partsCopied + p.partsReused}/${p.parts} parts, ${mb(p.bytesCopied)} copied`;
      if (line !== lastLine) io.err(`${line}\n`);
      lastLine = line;
    }
    if (job.status !== 'succeeded' || !job.result) {
      io.err(`stripemeter backup: failed: ${job.error}\n`);
      return 1;
    }
    const r = job.result;
    io.out(
      `backup ${r.id} in ${r.dir}: ${r.tables} tables, ${r.rows} rows, ${r.parts} parts (${r.partsCopied} copied, ${r.partsReused} already there), ` +
        `${mb(r.bytesCopied)} copied in ${(r.ms / 1000).toFixed(1)} s; writes paused ${Math.round(r.pauseMs)} ms\n`,
    );
    return 0;
  } catch (e) {
    const cause = (e as { cause?: { message?: string } }).cause?.message;
    io.err(`stripemeter backup: cannot reach ${base}: ${cause ?? (e as Error).message}\n`);
    return 1;
  }
}

/** `stripemeter restore`: runs in this process on the configured data directory (the service stopped). */
export async function runRestoreCli(argv: string[], io: Pick<Io, 'out' | 'err'> = defaultIo()): Promise<number> {
  let args;
  try {
    args = parseArgs({ args: argv, allowPositionals: true, options: { snapshot: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  } catch (e) {
    io.err(`stripemeter restore: ${(e as Error).message}\n\n${restoreUsage}\n`);
    return 2;
  }
  if (args.values.help) {
    io.out(`${restoreUsage}\n`);
    return 0;
  }
  if (args.positionals.length !== 1) {
    io.err(`stripemeter restore: give one directory\n\n${restoreUsage}\n`);
    return 2;
  }
  const { loadConfig } = await import('../config.js');
  const config = loadConfig();
  if (config.clickhouse.mode !== 'embedded') {
    io.err("stripemeter restore: restores the embedded engine's data; a ClickHouse server restores with RESTORE (docs/backup.md)\n");
    return 2;
  }
  const { openStorage } = await import('../storage/client.js');
  const { restore, RestoreError } = await import('./restore.js');
  const storage = await openStorage(config);
  try {
    const r = await restore({
      client: storage.jobs,
      dataDir: config.dataDir,
      target: { cluster: config.cluster },
      dir: path.resolve(args.positionals[0]!),
      snapshot: args.values.snapshot,
      log: (m) => io.err(`${m}\n`),
    });
    io.out(
      `restored backup ${r.snapshot} (taken ${r.createdAt}) into ${config.dataDir}: ${r.tables} tables, ${r.parts} parts, ${r.rows} rows in ${(r.ms / 1000).toFixed(1)} s` +
        `${r.migrationsApplied.length ? `; then applied ${r.migrationsApplied.join(', ')}` : ''}\n`,
    );
    return 0;
  } catch (e) {
    if (e instanceof RestoreError) {
      io.err(`stripemeter restore: ${e.message}\n`);
      return 1;
    }
    throw e;
  } finally {
    await storage.close();
  }
}
