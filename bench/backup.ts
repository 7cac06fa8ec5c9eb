/**
 * Backup and restore of a data directory holding BENCH_BACKUP_EVENTS events (default 20M), on the embedded engine.
 *
 * 1. A fresh data directory: the service's migrations, the events preloaded by the engine through the real tables and
 *    views, merges left to settle.
 * 2. Baseline, measured in the same run: `cp -r` of the tables' active parts (the bytes a backup copies, by the OS).
 * 3. A full backup (src/lifecycle/backup.ts, as POST /v1/admin/backups runs it), then 100,000 more events and an
 *    incremental backup into the same directory; then a restore into a new data directory (as `stripemeter restore`).
 * 4. Checks: the restored tables hold the same rows and counter totals.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClickHouseClient } from '@clickhouse/client';
import { loadConfig } from '../src/config.js';
import { backup } from '../src/lifecycle/backup.js';
import { restore } from '../src/lifecycle/restore.js';
import { openStorage } from '../src/storage/client.js';
import { migrate } from '../src/storage/migrations.js';
import { preloadEvents } from './lib/engine.js';
import { check, checksLine, env, fmt, jsonRows, line, log, printReport, ratio, section, settleMerges, writeResults, x } from './lib/report.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const events = env('BENCH_BACKUP_EVENTS', 20_000_000);
const more = 100_000;
const mib = (b: number) => `${fmt(b / 1024 / 1024, 1)} MiB`;
const s = (ms: number) => `${fmt(ms / 1000, 2)} s`;
const du = (dir: string) => Number(execFileSync('du', ['-sb', dir]).toString().split('\t')[0]);

const totals = async (client: ClickHouseClient) =>
  (
    await jsonRows<{ events: string; keys: string; counted: string; quantity: string }>(
      client,
      `SELECT (SELECT toString(count()) FROM events) AS events, (SELECT toString(count()) FROM event_keys) AS keys,
        (SELECT toString(sum(events)) FROM usage_period_counters) AS counted, (SELECT toString(sum(quantity)) FROM usage_period_counters) AS quantity`,
    )
  )[0]!;

async function main() {
  const startedAt = new Date().toISOString();
  const loadAvgStart = os.loadavg();
  const work = mkdtempSync(path.join(os.tmpdir(), 'stripemeter-bench-backup-'));
  const sourceDir = path.join(work, 'source');
  const targetDir = path.join(work, 'restored');
  const backupDir = path.join(work, 'backup');
  try {
    const config = loadConfig({ STRIPEMETER_DATA_DIR: sourceDir });
    const engineDir = path.join(sourceDir, 'clickhouse');
    let storage = await openStorage(config);
    await migrate(storage.jobs, {});
    log(`preloading ${fmt(events)} events`);
    const preloadMs = await preloadEvents(storage.jobs, events);
    const mergeMs = await settleMerges(storage.jobs, 600_000);
    const before = await totals(storage.jobs);
    // Active parts only: the directory also holds parts merged away and not yet deleted (minutes later).
    const active = await jsonRows<{ table: string; path: string; bytes: string }>(
      storage.jobs,
      `SELECT table, path, toString(bytes_on_disk) AS bytes FROM system.parts WHERE active AND database = currentDatabase()`,
    );
    const dataBytes = active.reduce((n, p) => n + Number(p.bytes), 0);
    log(`preloaded in ${s(preloadMs)}, merges settled after ${s(mergeMs)}; ${mib(dataBytes)} on disk`);

    // Baseline: the same active parts copied by `cp -r`, one call per table.
    const copyDir = path.join(work, 'copy');
    const byTable = new Map<string, string[]>();
    for (const p of active) byTable.set(p.table, [...(byTable.get(p.table) ?? []), p.path.replace(/\/$/, '')]);
    const t0 = performance.now();
    for (const [table, paths] of byTable) {
      mkdirSync(path.join(copyDir, table), { recursive: true });
      execFileSync('cp', ['-r', ...paths, path.join(copyDir, table)]);
    }
    const copyMs = performance.now() - t0;
    rmSync(copyDir, { recursive: true, force: true });

    const quiesce = <T>(fn: () => Promise<T>) => fn();
    log('full backup');
    const full = await backup({ client: storage.jobs, engineDir, dir: backupDir, quiesce });
    await preloadEvents(storage.jobs, more, events);
    log('incremental backup');
    const incremental = await backup({ client: storage.jobs, engineDir, dir: backupDir, quiesce });
    const after = await totals(storage.jobs);
    const backupBytes = du(backupDir);
    await storage.close();

    log('restore');
    storage = await openStorage(loadConfig({ STRIPEMETER_DATA_DIR: targetDir }));
    const restored = await restore({ client: storage.jobs, dataDir: targetDir, target: {}, dir: backupDir });
    const restoredTotals = await totals(storage.jobs);
    await storage.close();

    check('restored totals equal the source', JSON.stringify(restoredTotals) === JSON.stringify(after), `${JSON.stringify(restoredTotals)} vs ${JSON.stringify(after)}`);
    check('the source held every preloaded event', Number(before.keys) === events, before.keys);

    section(`Backup and restore of ${fmt(events)} events (embedded engine)`);
    line('Data on disk (active parts)', `${mib(dataBytes)} = ${fmt(dataBytes / events, 1)} bytes/event`);
    line('Baseline: cp -r of the active parts', s(copyMs));
    line('Full backup', `${s(full.ms)} = ${x(ratio(full.ms, copyMs))} baseline; ${fmt(full.parts)} parts, ${mib(full.bytesCopied)} copied; writes paused ${fmt(full.pauseMs)} ms`);
    line(`Incremental backup after ${fmt(more)} more events`, `${s(incremental.ms)} = ${x(ratio(incremental.ms, copyMs))} baseline; ${fmt(incremental.partsCopied)} parts copied (${mib(incremental.bytesCopied)}), ${fmt(incremental.partsReused)} reused`);
    line('Backup directory (both snapshots)', mib(backupBytes));
    line('Restore into a new data directory', `${s(restored.ms)} = ${x(ratio(restored.ms, copyMs))} baseline; ${fmt(restored.parts)} parts`);
    line('Correctness checks', checksLine());
    printReport('stripemeter backup / restore benchmark');
    writeResults(root, 'backup', startedAt, loadAvgStart, {
      events,
      dataBytes,
      preloadMs,
      copyMs,
      full,
      incremental,
      backupBytes,
      restore: restored,
      totals: after,
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
