import type { Deps } from '../../deps.js';
import { parseBody, parseQuery, requireScope, type Ctx } from '../../context.js';
import { page } from '../../pagination.js';
import { HttpError, validationError } from '../../errors.js';
import { BackupDirError, BackupRunningError } from '../../../lifecycle/backup-jobs.js';
import { backupIdSchema, listBackupsQuerySchema, startBackupSchema } from './schema.js';

function backups(deps: Deps, ctx: Ctx) {
  const p = requireScope(ctx, 'admin');
  if (!p.root) throw new HttpError(403, 'forbidden', 'only the service admin key takes backups');
  if (!deps.backups) {
    throw new HttpError(501, 'backup_unsupported', "backups through the service need the embedded engine; on a ClickHouse server use the engine's BACKUP (docs/backup.md)");
  }
  return deps.backups;
}

/** POST /v1/admin/backups: starts a backup (one at a time) and answers 202 with where to follow it. */
export function startBackup(deps: Deps) {
  return async (ctx: Ctx) => {
    const jobs = backups(deps, ctx);
    const body = parseBody(ctx, startBackupSchema);
    try {
      const job = jobs.start(body.dir);
      ctx.status = 202;
      ctx.body = { ...job, statusUrl: `/v1/admin/backups/${job.id}` };
    } catch (err) {
      if (err instanceof BackupDirError) throw new HttpError(400, 'invalid_backup_dir', err.message);
      if (err instanceof BackupRunningError) throw new HttpError(409, 'backup_running', err.message);
      throw err;
    }
  };
}

/** GET /v1/admin/backups/:id: progress, then the result. */
export function getBackup(deps: Deps) {
  return async (ctx: Ctx) => {
    const jobs = backups(deps, ctx);
    const params = backupIdSchema.safeParse(ctx.params);
    if (!params.success) throw validationError(params.error, 'path');
    const job = jobs.get(params.data.id);
    if (!job) throw new HttpError(404, 'not_found', `no backup ${params.data.id} in this process (a finished backup's record is its snapshot file)`);
    ctx.body = job;
  };
}

/** GET /v1/admin/backups: the backups this process ran (the last 20), newest first. */
export function listBackups(deps: Deps) {
  return async (ctx: Ctx) => {
    const jobs = backups(deps, ctx);
    const q = parseQuery(ctx, listBackupsQuerySchema);
    // Newest first: the key counts down with the start time, the id breaks ties.
    const { items, nextCursor } = page(jobs.list(), (j) => `${String(1e15 - Date.parse(j.startedAt)).padStart(16, '0')}:${j.id}`, q);
    ctx.body = { backups: items, nextCursor };
  };
}
