import { randomBytes } from 'node:crypto';
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log.js';
import { backup, type BackupOptions, type BackupProgress, type BackupResult } from './backup.js';

export type BackupJob = {
  id: string;
  dir: string;
  status: 'running' | 'succeeded' | 'failed';
  startedAt: string;
  finishedAt: string | null;
  progress: BackupProgress;
  result: BackupResult | null;
  error: string | null;
};

export class BackupDirError extends Error {}
export class BackupRunningError extends Error {}

const kept = 20;

/** The path with the links of its existing part resolved (the rest does not exist yet: the backup creates it). */
function realPathOf(p: string): string {
  const missing: string[] = [];
  let existing = p;
  while (!existsSync(existing)) {
    missing.unshift(path.basename(existing));
    const parent = path.dirname(existing);
    if (parent === existing) break;
    existing = parent;
  }
  return path.join(realpathSync(existing), ...missing);
}

const isWithin = (parent: string, child: string) => {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
};

/**
 * Backups started over HTTP, one at a time, each followed through its progress until done. Kept in memory (the last
 * 20): the durable record of a backup is its snapshot file in the backup directory.
 */
export class BackupJobs {
  private readonly jobs = new Map<string, BackupJob>();
  private running: BackupJob | undefined;
  /** Settles when the running backup has ended (succeeded or failed). */
  private ended: Promise<void> = Promise.resolve();

  constructor(
    private readonly opts: Omit<BackupOptions, 'dir' | 'onProgress'> & { backupRoot: string; dataDir: string; log: Logger },
  ) {}

  /** The directory a request names, inside BACKUP_ROOT (an allow-list: nowhere else) and outside the data directory. */
  resolveDir(dir: string): string {
    // Symbolic links resolved first: a link inside BACKUP_ROOT must not lead the backup anywhere else.
    const resolved = realPathOf(path.resolve(this.opts.backupRoot, dir));
    if (!isWithin(realPathOf(this.opts.backupRoot), resolved)) throw new BackupDirError(`the backup directory must be inside BACKUP_ROOT (${this.opts.backupRoot})`);
    const dataDir = realPathOf(this.opts.dataDir);
    if (isWithin(dataDir, resolved) || isWithin(resolved, dataDir)) {
      throw new BackupDirError('the backup directory and the data directory must not contain one another');
    }
    return resolved;
  }

  start(dir: string): BackupJob {
    if (this.running) throw new BackupRunningError(`backup ${this.running.id} is running; wait for it (GET /v1/admin/backups/${this.running.id})`);
    const job: BackupJob = {
      id: `bkp_${randomBytes(8).toString('hex')}`,
      dir: this.resolveDir(dir),
      status: 'running',
      startedAt: new Date().toISOString(),
      finishedAt: null,
      progress: { phase: 'snapshot', parts: 0, partsCopied: 0, partsReused: 0, bytesCopied: 0 },
      result: null,
      error: null,
    };
    this.running = job;
    this.jobs.set(job.id, job);
    for (const id of [...this.jobs.keys()].slice(0, Math.max(0, this.jobs.size - kept))) this.jobs.delete(id);
    this.ended = backup({ ...this.opts, dir: job.dir, onProgress: (p) => (job.progress = p) })
      .then(
        (result) => {
          job.result = result;
          job.status = 'succeeded';
          this.opts.log.info({ backupId: job.id, ...result }, 'backup done');
        },
        (err: unknown) => {
          job.status = 'failed';
          job.error = `${(err as Error).message.split('\n')[0]}; the data is untouched: run the backup again`;
          this.opts.log.error({ err, backupId: job.id }, 'backup failed');
        },
      )
      .finally(() => {
        job.finishedAt = new Date().toISOString();
        this.running = undefined;
      });
    return job;
  }

  list(): BackupJob[] {
    return [...this.jobs.values()];
  }

  get(id: string): BackupJob | undefined {
    return this.jobs.get(id);
  }

  /** Waits for a running backup (at shutdown: its frozen links are removed when it ends). */
  settle(): Promise<void> {
    return this.ended;
  }
}
