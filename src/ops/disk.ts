import { statfs } from 'node:fs/promises';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { diskSpace, tableBytes } from '../storage/queries/ops.js';
import type { Check, CheckResult } from './health.js';
import type { Metrics } from './metrics.js';

export type Space = { freeBytes: number; sizeBytes: number };
export type TableBytes = { table: string; bytes: number };
export type DiskSources = { space(): Promise<Space>; tables(): Promise<TableBytes[]> };
export type DiskOptions = Config['disk'];

/** Free space is below what the service keeps free: the write was refused before anything of it was stored. */
export class InsufficientStorageError extends Error {}

/** Space comes back when an operator frees it, not within a second: clients need not ask again sooner. */
export const insufficientStorageRetryAfterSeconds = 30;

/**
 * Embedded mode: the file system of the engine's data directory (statfs, space this process may use). Server mode:
 * the ClickHouse disk holding the database that is fullest, as the server reports it (its data is not local).
 */
export function diskSources(config: Config, client: ClickHouseClient): DiskSources {
  const ch = config.clickhouse;
  return {
    space:
      ch.mode === 'embedded'
        ? async () => {
            const s = await statfs(ch.path);
            return { freeBytes: s.bavail * s.bsize, sizeBytes: s.blocks * s.bsize };
          }
        : async () => {
            const [disk] = await diskSpace(client, {});
            if (!disk) throw new Error('system.disks lists no disk');
            return { freeBytes: disk.freeSpace, sizeBytes: disk.totalSpace };
          },
    tables: () => tableBytes(client, {}),
  };
}

const mib = (bytes: number) => (bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`);
const percent = (s: Space) => (s.sizeBytes > 0 ? (100 * s.freeBytes) / s.sizeBytes : 0);

/**
 * Watches free space on the data volume, sampled every DISK_CHECK_INTERVAL (never per request), and sets the disk
 * gauges. Writes that could fill the volume ask `refusal()` first: below the floor they are refused whole, so the
 * engine never runs out of space in the middle of an INSERT whose materialized views write several tables.
 */
export class DiskMonitor {
  private space: Space | undefined;
  private spaceError: string | undefined;
  private refusing = false;
  private timer: NodeJS.Timeout | undefined;
  // A slow table query (its connection busy with a job) must not hold up the free-space samples.
  private spaceBusy = false;
  private tablesBusy = false;
  private tablesFailing = false;

  constructor(
    private readonly sources: DiskSources,
    private readonly opts: DiskOptions,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  /** Takes the first samples, then samples every interval. */
  async start(): Promise<void> {
    await this.sample();
    this.timer = setInterval(() => void this.sample(), this.opts.checkIntervalMs);
    this.timer.unref();
  }

  /** Samples free space and table sizes now (a sample still running is not started again). */
  async sample(): Promise<void> {
    await Promise.all([this.sampleSpace(), this.sampleTables()]);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The free space writes keep: DISK_MIN_FREE_PERCENT of the volume, at most DISK_MIN_FREE_BYTES. */
  minFreeBytes(sizeBytes: number): number {
    return Math.min(this.opts.minFreeBytes, Math.floor((sizeBytes * this.opts.minFreePercent) / 100));
  }

  /** Why a write must be refused now (free space below the floor at the last sample), or undefined. */
  refusal(): string | undefined {
    const s = this.space;
    if (!s || s.freeBytes >= this.minFreeBytes(s.sizeBytes)) return undefined;
    return (
      `the data volume has ${mib(s.freeBytes)} free (${percent(s).toFixed(1)}%), below the ${mib(this.minFreeBytes(s.sizeBytes))} ` +
      'the service keeps free (DISK_MIN_FREE_BYTES, DISK_MIN_FREE_PERCENT)'
    );
  }

  /** Throws InsufficientStorageError while writes are refused; `consequence` tells the client what that means. */
  assertRoom(consequence: string): void {
    const why = this.refusal();
    if (why) throw new InsufficientStorageError(`${why}; ${consequence}`);
  }

  /** Readiness: degraded (never unhealthy: reads still work) below DISK_LOW_FREE_PERCENT or while writes are refused. */
  check(): Check {
    return { name: 'disk', critical: false, run: async () => this.status() };
  }

  private status(): CheckResult {
    const s = this.space;
    if (!s) return { status: 'warn', detail: `free space unknown: ${this.spaceError ?? 'not sampled yet'}` };
    const detail = `${mib(s.freeBytes)} free of ${mib(s.sizeBytes)} (${percent(s).toFixed(1)}%)`;
    if (this.refusal()) return { status: 'warn', detail: `${detail}, below ${mib(this.minFreeBytes(s.sizeBytes))}: ingest and replay apply are refused (507)` };
    if (percent(s) < this.opts.lowFreePercent) return { status: 'warn', detail: `${detail}, below DISK_LOW_FREE_PERCENT (${this.opts.lowFreePercent}%)` };
    if (this.spaceError) return { status: 'warn', detail: `${detail} at the last good sample; sampling fails: ${this.spaceError}` };
    return { status: 'pass', detail };
  }

  private async sampleSpace(): Promise<void> {
    if (this.spaceBusy) return;
    this.spaceBusy = true;
    try {
      const s = await this.sources.space();
      this.space = s;
      this.spaceError = undefined;
      this.metrics.volumeFreeBytes.set(s.freeBytes);
      this.metrics.volumeSizeBytes.set(s.sizeBytes);
      this.metrics.volumeMinFreeBytes.set(this.minFreeBytes(s.sizeBytes));
      const why = this.refusal();
      if (why && !this.refusing) this.log.warn({ freeBytes: s.freeBytes, sizeBytes: s.sizeBytes }, `${why}: refusing ingest and replay apply until space is freed`);
      else if (!why && this.refusing) this.log.info({ freeBytes: s.freeBytes, sizeBytes: s.sizeBytes }, 'free space is back above the floor: ingest and replay apply resume');
      this.refusing = why !== undefined;
    } catch (err) {
      if (this.spaceError === undefined) this.log.warn({ err }, 'free space could not be sampled; keeping the last sample');
      this.spaceError = (err as Error).message.split('\n')[0];
    } finally {
      this.spaceBusy = false;
    }
  }

  private async sampleTables(): Promise<void> {
    if (this.tablesBusy) return;
    this.tablesBusy = true;
    try {
      const rows = await this.sources.tables();
      // Reset first, so a dropped table's series goes away.
      this.metrics.tableBytes.reset();
      for (const r of rows) this.metrics.tableBytes.set({ table: r.table }, r.bytes);
      this.tablesFailing = false;
    } catch (err) {
      if (!this.tablesFailing) this.log.warn({ err }, 'table sizes could not be read; keeping the last ones');
      this.tablesFailing = true;
    } finally {
      this.tablesBusy = false;
    }
  }
}
