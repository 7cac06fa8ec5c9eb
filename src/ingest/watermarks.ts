import type { ClickHouseClient } from '@clickhouse/client';
import { insertWatermarks, lookupWatermarks } from '../storage/queries/ingest.js';
import type { EventRow } from './event.js';
import { toClickHouseTime } from '../storage/time.js';

const key = (tenantId: string, metric: string, customerRef: string) => `${tenantId}\u0000${metric}\u0000${customerRef}`;
const tsMsOf = (row: EventRow) => Date.parse(`${row.ts.replace(' ', 'T')}Z`);

/**
 * Per counter (tenant, metric, customer), the latest event time counted. Cached in memory (loaded from the
 * `watermarks` table the first time a counter is seen); moves made while judging a group are staged and become
 * current only when that group's INSERT succeeded. One group is staged at a time: the writer judges a group only
 * after the previous one's INSERT returned.
 */
export class Watermarks {
  private current = new Map<string, number>();
  private staged = new Map<string, number>();
  /** Moved since last stored. */
  private dirty = new Map<string, number>();
  private storedAt = 0;

  constructor(
    private readonly reader: ClickHouseClient,
    private readonly writer: ClickHouseClient,
  ) {}

  /** Loads stored watermarks of the group's counters not cached yet. */
  async load(rows: EventRow[]): Promise<void> {
    if (this.current.size > 1_000_000) this.current.clear();
    const missing = new Map<string, Set<string>>();
    for (const r of rows) {
      if (this.current.has(key(r.tenant_id, r.metric, r.customer_ref))) continue;
      let keys = missing.get(r.tenant_id);
      if (!keys) missing.set(r.tenant_id, (keys = new Set()));
      keys.add(`${r.metric}\u0000${r.customer_ref}`);
    }
    for (const [tenantId, keys] of missing) {
      const all = [...keys];
      for (let i = 0; i < all.length; i += 5000) {
        for (const w of await lookupWatermarks(this.reader, { tenantId, keys: all.slice(i, i + 5000) })) {
          this.raise(key(tenantId, w.metric, w.customerRef), w.watermark);
        }
      }
      // Counters with no stored watermark start with none: their first event is never late.
      for (const k of all) {
        const [metric = '', customerRef = ''] = k.split('\u0000');
        const id = key(tenantId, metric, customerRef);
        this.raise(id, Number.NEGATIVE_INFINITY);
      }
    }
  }

  /** Judges an accepted event against its counter's watermark and moves the (staged) watermark past it. */
  observe(row: EventRow, windowMs: number): 'late' | 'beyond_window' | undefined {
    const id = key(row.tenant_id, row.metric, row.customer_ref);
    const ts = tsMsOf(row);
    const mark = this.staged.get(id) ?? this.current.get(id) ?? Number.NEGATIVE_INFINITY;
    if (ts < mark - windowMs) return 'beyond_window';
    if (ts > mark) this.staged.set(id, ts);
    return ts < mark ? 'late' : undefined;
  }

  /**
   * After a successful INSERT: the staged moves become current. They are stored at most once a second (and at
   * close): a watermark is only needed again after a restart, and one small INSERT per group would cost ingest
   * a part per commit. A restart within that second judges lateness against a slightly older watermark.
   */
  async persist(force = false): Promise<void> {
    for (const [id, ms] of this.staged) {
      this.raise(id, ms);
      this.dirty.set(id, Math.max(ms, this.dirty.get(id) ?? ms));
    }
    this.staged.clear();
    if (this.dirty.size === 0 || (!force && Date.now() - this.storedAt < 1000)) return;
    const values = [...this.dirty].map(([id, ms]) => {
      const [tenantId = '', metric = '', customerRef = ''] = id.split('\u0000');
      return { tenantId, metric, customerRef, watermark: toClickHouseTime(ms) };
    });
    this.dirty.clear();
    this.storedAt = Date.now();
    await insertWatermarks(this.writer, values);
  }

  /** After a failed INSERT: its moves never happened. */
  discard(): void {
    this.staged.clear();
  }

  // Watermarks only move forward, whichever of a load and a persist lands first.
  private raise(id: string, ms: number): void {
    const was = this.current.get(id);
    if (was === undefined || ms > was) this.current.set(id, ms);
  }
}
