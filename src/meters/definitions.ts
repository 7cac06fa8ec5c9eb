import type { ClickHouseClient } from '@clickhouse/client';
import { aggregations, insertMeter, listMeters, metricHasEvents, type Aggregation, type Meter } from '../storage/queries/meters.js';
import { toClickHouseTime } from '../storage/time.js';
import { nextVersion } from '../storage/version.js';

export { aggregations, type Aggregation, type Meter };

/** Sums and counts add up across hours, customers and adjustments; the others are not sums of parts. */
export const additive = (a: Aggregation) => a === 'sum' || a === 'count';

/** At most this many dimensions per meter: each is part of every state row's key. */
export const maxDimensions = 5;

export type MeterSpec = Pick<Meter, 'aggregation' | 'uniqueBy' | 'dimensions'>;

export const sameSpec = (a: MeterSpec, b: MeterSpec) =>
  a.aggregation === b.aggregation && a.uniqueBy === b.uniqueBy && a.dimensions.join('\u0000') === b.dimensions.join('\u0000');

const cacheTtlMs = 30_000;

const keyOf = (tenantId: string, metric: string) => `${tenantId}\u0000${metric}`;

/**
 * Meter definitions. Ingest reads them for every event, so each tenant's are cached in memory (loaded once per
 * TTL); a change made through this store is seen by this process at once (`changing`), by others within the TTL.
 */
export class MeterStore {
  private cache = new Map<string, { meters: Map<string, MeterSpec>; loadedAt: number }>();
  /** Definitions being written (null: being deleted): ingest uses them from the start of the change. */
  private staged = new Map<string, MeterSpec | null>();
  /** Changes per tenant: a load that started before one finished would bring back the old definitions. */
  private changes = new Map<string, number>();

  constructor(private readonly client: ClickHouseClient) {}

  async list(tenantId: string, metric = ''): Promise<Meter[]> {
    return listMeters(this.client, { tenantId, metric });
  }

  /** Whether any of the metrics (all of the tenant's: []) has a meter definition. */
  async hasAny(tenantId: string, metrics: string[]): Promise<boolean> {
    return (await this.list(tenantId)).some((m) => metrics.length === 0 || metrics.includes(m.metric));
  }

  async get(tenantId: string, metric: string): Promise<Meter | undefined> {
    return (await this.list(tenantId, metric))[0];
  }

  /** Loads the tenant's definitions into the cache unless fresh there (ingest calls it before `cached`). */
  async load(tenantId: string): Promise<void> {
    const held = this.cache.get(tenantId);
    if (held && Date.now() - held.loadedAt < cacheTtlMs) return;
    const changes = this.changes.get(tenantId) ?? 0;
    const meters = await this.list(tenantId);
    if ((this.changes.get(tenantId) ?? 0) !== changes) return;
    this.cache.set(tenantId, { meters: new Map(meters.map((m) => [m.metric, m])), loadedAt: Date.now() });
  }

  /** The definition of a metric as cached by `load`, or being written (undefined: a sum with no dimensions). */
  cached(tenantId: string, metric: string): MeterSpec | undefined {
    const staged = this.staged.get(keyOf(tenantId, metric));
    if (staged !== undefined) return staged ?? undefined;
    return this.cache.get(tenantId)?.meters.get(metric);
  }

  /**
   * Runs `write` (which stores `next` for the metric, or deletes it with null) with `next` in force for ingest in
   * this process from the call on (set before the first await), so no event prepared after the caller's checks
   * carries the old definition. If `write` fails, the cache is left as it was; events prepared meanwhile keep `next`
   * (the engine failed that write, so their insert most likely fails too).
   */
  async changing<T>(tenantId: string, metric: string, next: MeterSpec | null, write: () => Promise<T>): Promise<T> {
    const key = keyOf(tenantId, metric);
    this.staged.set(key, next);
    this.changes.set(tenantId, (this.changes.get(tenantId) ?? 0) + 1);
    try {
      const out = await write();
      const entry = this.cache.get(tenantId);
      if (entry && next) entry.meters.set(metric, next);
      if (entry && !next) entry.meters.delete(metric);
      return out;
    } finally {
      this.staged.delete(key);
    }
  }

  async hasEvents(tenantId: string, metric: string): Promise<boolean> {
    const [row] = await metricHasEvents(this.client, { tenantId, metric });
    return row?.stored ?? false;
  }

  async put(tenantId: string, metric: string, spec: MeterSpec, createdAt?: string): Promise<Meter> {
    const now = toClickHouseTime(Date.now());
    await insertMeter(this.client, [
      {
        tenantId,
        metric,
        aggregation: spec.aggregation,
        uniqueBy: spec.uniqueBy,
        dimensions: spec.dimensions,
        deleted: 0,
        createdAt: createdAt ? toClickHouseTime(createdAt) : now,
        updatedAt: now,
        version: nextVersion(),
      },
    ]);
    return (await this.get(tenantId, metric))!;
  }

  async delete(existing: Meter): Promise<void> {
    await insertMeter(this.client, [
      {
        tenantId: existing.tenantId,
        metric: existing.metric,
        aggregation: existing.aggregation,
        uniqueBy: existing.uniqueBy,
        dimensions: existing.dimensions,
        deleted: 1,
        updatedAt: toClickHouseTime(Date.now()),
        version: nextVersion(),
      },
    ]);
  }
}
