import { statfsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestStorage, type TestStorage } from '../../test/support/storage.js';
import { ConfigError, loadConfig } from '../config.js';
import { createLogger } from '../log.js';
import { DiskMonitor, diskSources, InsufficientStorageError, type Space } from './disk.js';
import { createMetrics } from './metrics.js';

const GiB = 2 ** 30;
const opts = { checkIntervalMs: 60_000, minFreeBytes: GiB, minFreePercent: 5, lowFreePercent: 15 };
const silent = createLogger('silent');

/** A monitor over a volume whose free space the test sets. */
async function monitorOf(space: Space, options = opts) {
  const metrics = createMetrics();
  let current = space;
  const monitor = new DiskMonitor({ space: async () => current, tables: async () => [{ table: 'events', bytes: 123 }] }, options, metrics, silent);
  await monitor.start();
  const gauge = async (name: string) => (await metrics.registry.getSingleMetric(name)!.get()).values;
  return {
    monitor,
    gauge,
    set: async (s: Space) => {
      current = s;
      await monitor.sample();
    },
  };
}

describe('DiskMonitor', () => {
  it('keeps DISK_MIN_FREE_PERCENT of the volume free, at most DISK_MIN_FREE_BYTES', async () => {
    const { monitor } = await monitorOf({ freeBytes: 0, sizeBytes: 0 });
    // small volume: the percentage; large one: the byte cap
    expect(monitor.minFreeBytes(4 * GiB)).toBe(Math.floor(0.05 * 4 * GiB));
    expect(monitor.minFreeBytes(1000 * GiB)).toBe(GiB);
    monitor.stop();
  });

  it('refuses below the floor, degrades readiness below DISK_LOW_FREE_PERCENT, and recovers', async () => {
    const size = 10 * GiB;
    const { monitor, set, gauge } = await monitorOf({ freeBytes: 5 * GiB, sizeBytes: size });
    const check = monitor.check();
    expect(await check.run()).toEqual({ status: 'pass', detail: '5.0 GiB free of 10.0 GiB (50.0%)' });
    expect(monitor.refusal()).toBeUndefined();
    expect(await gauge('storage_table_bytes')).toEqual([expect.objectContaining({ labels: { table: 'events' }, value: 123 })]);

    await set({ freeBytes: 1 * GiB, sizeBytes: size });
    expect(await check.run()).toEqual({ status: 'warn', detail: '1.0 GiB free of 10.0 GiB (10.0%), below DISK_LOW_FREE_PERCENT (15%)' });
    expect(monitor.refusal()).toBeUndefined();

    // 5% of 10 GiB is 512 MiB, under the 1 GiB cap
    await set({ freeBytes: 500 * 2 ** 20, sizeBytes: size });
    expect(monitor.refusal()).toBe('the data volume has 500.0 MiB free (4.9%), below the 512.0 MiB the service keeps free (DISK_MIN_FREE_BYTES, DISK_MIN_FREE_PERCENT)');
    expect(() => monitor.assertRoom('nothing stored')).toThrow(InsufficientStorageError);
    expect(() => monitor.assertRoom('nothing stored')).toThrow(/; nothing stored$/);
    expect((await check.run()).detail).toMatch(/below 512\.0 MiB: ingest and replay apply are refused \(507\)$/);
    expect((await gauge('storage_volume_free_bytes'))[0]!.value).toBe(500 * 2 ** 20);
    expect((await gauge('storage_volume_size_bytes'))[0]!.value).toBe(size);
    expect((await gauge('storage_volume_min_free_bytes'))[0]!.value).toBe(512 * 2 ** 20);

    await set({ freeBytes: 3 * GiB, sizeBytes: size });
    expect(monitor.refusal()).toBeUndefined();
    expect((await check.run()).status).toBe('pass');
    monitor.stop();
  });

  it('keeps the last sample when sampling fails, and says so', async () => {
    const metrics = createMetrics();
    let fail = false;
    const monitor = new DiskMonitor(
      {
        space: async () => {
          if (fail) throw new Error('statfs failed');
          return { freeBytes: 100, sizeBytes: 10_000 };
        },
        tables: async () => [],
      },
      { ...opts, minFreeBytes: 1000 },
      metrics,
      silent,
    );
    await monitor.start();
    expect(monitor.refusal()).toMatch(/below/);
    fail = true;
    await monitor.sample();
    // still refused on the last known space
    expect(monitor.refusal()).toMatch(/below/);
    expect((await monitor.check().run()).status).toBe('warn');
    monitor.stop();
  });
});

describe('disk settings', () => {
  it('have defaults and are validated', () => {
    expect(loadConfig({}).disk).toEqual({ checkIntervalMs: 5000, minFreeBytes: GiB, minFreePercent: 5, lowFreePercent: 15 });
    expect(() => loadConfig({ DISK_MIN_FREE_PERCENT: '60' })).toThrow(/DISK_MIN_FREE_PERCENT/);
    expect(() => loadConfig({ DISK_MIN_FREE_BYTES: '-1' })).toThrow(/DISK_MIN_FREE_BYTES/);
    expect(() => loadConfig({ DISK_CHECK_INTERVAL: 'PT0.01S' })).toThrow(/DISK_CHECK_INTERVAL/);
    expect(() => loadConfig({ DISK_MIN_FREE_PERCENT: '20', DISK_LOW_FREE_PERCENT: '10' })).toThrow(ConfigError);
    expect(() => loadConfig({ DISK_MIN_FREE_PERCENT: '20', DISK_LOW_FREE_PERCENT: '10' })).toThrow(/DISK_LOW_FREE_PERCENT/);
  });
});

describe('disk sources on the embedded engine', () => {
  let storage: TestStorage;
  beforeAll(async () => {
    storage = await openTestStorage('disk');
  });
  afterAll(() => storage?.destroy());

  it('read free space with statfs (embedded) or from system.disks (server), and bytes per table from system.parts', async () => {
    const dir = storage.dir;
    await storage.api.command({ query: "INSERT INTO tenants (id, timezone) VALUES ('disk-t', 'UTC')" });
    const fs = statfsSync(dir);
    const embedded = diskSources(loadConfig({ STRIPEMETER_DATA_DIR: dir }), storage.jobs);
    const space = await embedded.space();
    expect(space.sizeBytes).toBe(fs.blocks * fs.bsize);
    expect(space.freeBytes).toBeGreaterThan(0);
    expect(space.freeBytes).toBeLessThanOrEqual(space.sizeBytes);
    const tables = await embedded.tables();
    expect(tables.find((t) => t.table === 'tenants')?.bytes).toBeGreaterThan(0);
    expect(tables.every((t) => Number.isInteger(t.bytes))).toBe(true);

    // The server-mode query, run on the embedded engine, which has system.disks too: the same volume.
    const server = diskSources(loadConfig({ STRIPEMETER_DATA_DIR: dir, CLICKHOUSE_URL: 'http://127.0.0.1:1' }), storage.jobs);
    const reported = await server.space();
    expect(reported.sizeBytes).toBe(space.sizeBytes);
    expect(reported.freeBytes).toBeGreaterThan(0);
  });
});
