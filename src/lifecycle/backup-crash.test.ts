import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../storage/paths.js';
import { callService, spawnService, type ChildService } from '../../test/support/child.js';
import { event } from '../../test/support/service.js';

const adminKey = 'sm_admin_backup_crash_test_key_0123456789abcdef';
const dirs: string[] = [];
const newDir = (name: string) => {
  const d = mkdtempSync(path.join(os.tmpdir(), `stripemeter-${name}-`));
  dirs.push(d);
  return d;
};
let child: ChildService | undefined;
afterAll(() => {
  child?.process.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The CLI in a child process; `until` (polled) kills it with SIGKILL once true. */
function cli(args: string[], env: Record<string, string>, until?: () => boolean) {
  const p = spawn(process.execPath, [path.join(packageRoot, 'dist/src/cli.js'), ...args], { env: { ...process.env, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (c: Buffer) => (out += c.toString()));
  p.stderr.on('data', (c: Buffer) => (out += c.toString()));
  let killed = false;
  const timer = until
    ? setInterval(() => {
        if (until()) {
          killed = true;
          p.kill('SIGKILL');
          clearInterval(timer);
        }
      }, 2)
    : undefined;
  return new Promise<{ code: number | null; out: string; killed: boolean }>((resolve) =>
    p.once('exit', (code) => {
      if (timer) clearInterval(timer);
      resolve({ code, out, killed });
    }),
  );
}

const total = async (url: string) => {
  const r = await callService(url, adminKey, 'GET', '/v1/usage?tenantId=demo&metric=requests');
  return (r.body.customers as Array<{ total: string }>).reduce((n, c) => n + Number(c.total), 0);
};

describe('a kill -9 during a backup or a restore', () => {
  it('leaves the data usable, the next backup complete, and a restore that starts over', async () => {
    const dataDir = newDir('crash-data');
    const root = newDir('crash-backups');
    const backupDir = path.join(root, 'b');
    const env = { STRIPEMETER_DATA_DIR: dataDir, STRIPEMETER_ADMIN_KEY: adminKey, BACKUP_ROOT: root, PUSH_INTERVAL: 'PT1H' };
    child = await spawnService(env);
    // Many small inserts: many parts, so the copy lasts long enough to be cut.
    const first = Array.from({ length: 100 }, (_, i) => event({ customerRef: `cus_${i % 10}`, idempotencyKey: `crash-${i}` }));
    expect((await callService(child.url, adminKey, 'POST', '/v1/events/ingest', { events: first })).body.accepted).toBe(100);
    for (let b = 1; b < 40; b++) {
      const events = Array.from({ length: 100 }, (_, i) => event({ customerRef: `cus_${i % 10}`, idempotencyKey: `crash-${b * 100 + i}` }));
      expect((await callService(child.url, adminKey, 'POST', '/v1/events/ingest', { events })).body.accepted).toBe(100);
    }
    expect(await total(child.url)).toBe(4000);

    const started = await callService(child.url, adminKey, 'POST', '/v1/admin/backups', { dir: backupDir });
    expect(started.status).toBe(202);
    let status = 'running';
    while (status === 'running') {
      const r = await callService(child.url, adminKey, 'GET', `/v1/admin/backups/${started.body.id}`);
      status = r.body.status;
      if (status === 'running' && r.body.progress.partsCopied > 0) break;
    }
    expect(status, 'the backup ended before the test could cut it').toBe('running');
    child.process.kill('SIGKILL');
    await child.exited;
    expect(readdirSync(path.join(backupDir, 'snapshots')).filter((f) => f.endsWith('.json'))).toEqual([]);

    // The data is usable, and the next backup (the CLI) is complete and removes what the killed one left.
    child = await spawnService(env);
    expect(await total(child.url)).toBe(4000);
    const again = await cli(['backup', backupDir], { STRIPEMETER_URL: child.url, STRIPEMETER_KEY: adminKey });
    expect(again.code, again.out).toBe(0);
    expect(again.out).toMatch(/backup \S+ in .*: \d+ tables, \d+ rows/);
    expect(readdirSync(path.join(backupDir, 'snapshots')).filter((f) => f.endsWith('.json'))).toHaveLength(1);
    expect(readdirSync(path.join(dataDir, 'clickhouse', 'shadow')).filter((f) => f.startsWith('stripemeter_backup_'))).toEqual([]);
    for (const t of readdirSync(path.join(backupDir, 'parts'))) expect(readdirSync(path.join(backupDir, 'parts', t)).filter((f) => f.startsWith('.tmp-'))).toEqual([]);
    child.process.kill('SIGTERM');
    await child.exited;

    // A restore killed half-way: the service refuses the half-restored directory; the restore run again completes.
    const target = newDir('crash-restore');
    const marker = path.join(target, 'restore-in-progress.json');
    const cut = await cli(['restore', backupDir], { STRIPEMETER_DATA_DIR: target }, () => existsSync(marker));
    expect(cut.killed, cut.out).toBe(true);
    await expect(spawnService({ ...env, STRIPEMETER_DATA_DIR: target })).rejects.toThrow(/did not finish: run 'stripemeter restore' again/);
    const done = await cli(['restore', backupDir], { STRIPEMETER_DATA_DIR: target });
    expect(done.code, done.out).toBe(0);
    expect(done.out).toMatch(/restored backup \S+ .*: \d+ tables, \d+ parts, \d+ rows/);
    expect(existsSync(marker)).toBe(false);

    child = await spawnService({ ...env, STRIPEMETER_DATA_DIR: target });
    expect(await total(child.url)).toBe(4000);
    expect((await callService(child.url, adminKey, 'POST', '/v1/events/ingest', { events: first })).body.duplicates).toBe(100);
    expect(await total(child.url)).toBe(4000);
  }, 120_000);
});
