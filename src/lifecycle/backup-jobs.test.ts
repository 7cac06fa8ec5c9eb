import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import { createLogger } from '../log.js';
import { BackupDirError, BackupJobs } from './backup-jobs.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'stripemeter-backup-dirs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('backup directories', () => {
  const root = path.join(tmp, 'backups');
  const dataDir = path.join(tmp, 'data');
  const outside = path.join(tmp, 'elsewhere');
  for (const d of [root, dataDir, outside]) mkdirSync(d);
  symlinkSync(outside, path.join(root, 'escape'));
  symlinkSync(dataDir, path.join(root, 'data-link'));
  const jobs = new BackupJobs({ client: {} as ClickHouseClient, engineDir: path.join(dataDir, 'clickhouse'), backupRoot: root, dataDir, log: createLogger('silent'), quiesce: (fn) => fn() });

  it('are inside BACKUP_ROOT, relative paths taken from it, and created later when missing', () => {
    expect(jobs.resolveDir('nightly')).toBe(path.join(root, 'nightly'));
    expect(jobs.resolveDir(path.join(root, 'a', 'b'))).toBe(path.join(root, 'a', 'b'));
  });

  it('refuse a path outside it, by .. or by a symbolic link, and the data directory', () => {
    for (const dir of ['..', '../elsewhere', outside, '/etc', 'escape', 'escape/sub', 'data-link', dataDir]) {
      expect(() => jobs.resolveDir(dir), dir).toThrow(BackupDirError);
    }
  });
});
