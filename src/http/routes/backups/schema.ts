import { z } from 'zod';
import { nextCursorSchema, pageQuery } from '../../pagination.js';

export const startBackupSchema = z.strictObject({
  dir: z
    .string()
    .min(1)
    .max(4096)
    // Checked here, not left to the file system: a NUL or a lone surrogate would only fail later, inside the job.
    .refine((d) => d.isWellFormed() && !/[\u0000-\u001f\u007f]/.test(d), 'must be well-formed text without control characters')
    .describe('the backup directory, inside BACKUP_ROOT (relative paths are taken from it); created if missing, and a later backup into it is incremental'),
});

export const listBackupsQuerySchema = z.strictObject({ ...pageQuery });

export const backupIdSchema = z.strictObject({ id: z.string().regex(/^bkp_[0-9a-f]{16}$/, 'not a backup id') });

// Responses, described for the OpenAPI spec.
const progressSchema = z.strictObject({
  phase: z.enum(['snapshot', 'copying', 'done']),
  parts: z.number().int(),
  partsCopied: z.number().int(),
  partsReused: z.number().int().describe('parts already in the directory from an earlier backup (not copied again)'),
  bytesCopied: z.number().int(),
});

export const backupJobSchema = z.strictObject({
  id: z.string(),
  dir: z.string(),
  status: z.enum(['running', 'succeeded', 'failed']),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  progress: progressSchema,
  result: z
    .strictObject({
      id: z.string().describe('the snapshot id (snapshots/<id>.json); `stripemeter restore --snapshot` takes it'),
      dir: z.string(),
      tables: z.number().int(),
      rows: z.number().int(),
      parts: z.number().int(),
      partsCopied: z.number().int(),
      partsReused: z.number().int(),
      bytesCopied: z.number().int(),
      pauseMs: z.number().describe('how long writes waited while every table was frozen at one point'),
      ms: z.number(),
    })
    .nullable(),
  error: z.string().nullable(),
});
export const startedBackupSchema = backupJobSchema.extend({ statusUrl: z.string() });

export const backupListSchema = z.strictObject({ backups: z.array(backupJobSchema), nextCursor: nextCursorSchema });
