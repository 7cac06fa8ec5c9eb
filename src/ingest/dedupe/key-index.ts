import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Logger } from '../../log.js';
import { ensurePrivateDir, privateFileMode, tightenFile } from '../../storage/private-files.js';
import { loadSql } from '../../storage/sql.js';
import { eventKeysTable, keyCounts } from '../../storage/queries/ingest.js';
import { BlockBloom, KeyFilter } from './key-filter.js';
import { keyHashes } from './key-hash.js';

/** Keys inserted up to this long before a snapshot started are in it for sure (covers clock skew with a server). */
const SNAPSHOT_MARGIN_MS = 10 * 60_000;
/**
 * A tenant whose chain reaches this many filters is rebuilt into one filter sized for its keys, in the background:
 * false positives add up over the chain (at 12 bits a key, each full filter answers "maybe" for 0.54% of new keys).
 */
const MAX_CHAIN = 4;
/** After a failed rebuild, a tenant's next one waits this long: each add would otherwise start another full read. */
const REBUILD_RETRY_MS = 60_000;
const MAGIC = 'stripemeter-key-filter/1\n';

type SnapshotHeader = {
  /** The `event_keys` table the filter describes: another database (or a recreated table) means a full rebuild. */
  table: string;
  /** Every key inserted before this instant (ms) is in the filter; keys inserted since are read back at start. */
  coveredUntilMs: number;
  tenants: Array<{ tenantId: string; filters: Array<{ capacity: number; count: number }> }>;
};

export type KeyIndexStats = { tenants: number; keys: number; filterBytes: number; recentKeys: number; rebuilds: number };
export type LoadReport = { mode: 'snapshot' | 'full'; ms: number; keysRead: number; keys: number; filterBytes: number };

/**
 * Which idempotency keys a tenant has used, in memory, so that dedupe costs the same at any table size. Random keys
 * (what clients send) fall in nearly every granule of a key-ordered table, so a look-up of a group's fresh keys read
 * the whole key column: 450-510 ms for 5,000 keys against 20M stored. Here a per-tenant Bloom filter answers
 * "never accepted" for nearly every fresh key, and only its "maybe"s are looked up in `event_keys`; an exact map of
 * recently committed keys answers the usual retries without a look-up at all.
 *
 * Exactness: the filter only ever gains bits, and a key's bits are set when the writer accepts it, before its
 * INSERT. So a stored key always answers "maybe" and is looked up: a duplicate is never taken for new. A new key
 * that answers "maybe" is looked up and found absent: never taken for a duplicate. The filter must see every key
 * stored for its tenants: only this process's writer inserts events for them (one writer per tenant, as replay's
 * lock already requires), and at start it reads back whatever was inserted since its last snapshot.
 */
export class KeyIndex {
  private readonly filters = new Map<string, KeyFilter>();
  /** tenant NUL key -> payload fingerprint of keys whose INSERT returned. */
  private readonly recent = new Map<string, string>();
  /**
   * The same ids in insertion order, a ring: the oldest is evicted by position. (Evicting through the Map's own
   * iterator walks over every entry deleted before it, which made eviction quadratic: 43% of ingest CPU.)
   */
  private readonly ring: Array<string | undefined>;
  private ringNext = 0;
  private dirty = false;
  private snapshotting: Promise<void> | undefined;
  /** Tenants being rebuilt, with the hashes of keys added meanwhile (re-added to the rebuilt filter). */
  private readonly rebuilding = new Map<string, Array<[number, number]>>();
  private rebuilds = 0;
  private readonly rebuildFailedAt = new Map<string, number>();
  private readonly running = new Set<Promise<void>>();

  /**
   * `settled` resolves once every key accepted so far is stored (the writer's groups in flight have committed): a
   * rebuild reads `event_keys` only after it, so no key accepted before the rebuild began can be missing from it.
   */
  constructor(
    private readonly client: ClickHouseClient,
    private readonly opts: { file: string; recentKeys: number; settled?: () => Promise<void>; maxChain?: number },
    private readonly log: Logger,
  ) {
    this.ring = new Array<string | undefined>(opts.recentKeys);
  }

  /** The payload fingerprint of a key committed recently, without a look-up. */
  recentHash(id: string): string | undefined {
    return this.recent.get(id);
  }

  /** False when the tenant certainly never accepted the key. */
  mayContain(tenantId: string, key: string): boolean {
    const filter = this.filters.get(tenantId);
    if (!filter) return false;
    const [h1, h2] = keyHashes(key);
    return filter.mayContain(h1, h2);
  }

  /** A key the writer accepted, called before its INSERT starts (so a failed INSERT leaves a harmless "maybe"). */
  add(tenantId: string, key: string): void {
    let filter = this.filters.get(tenantId);
    if (!filter) this.filters.set(tenantId, (filter = new KeyFilter()));
    const [h1, h2] = keyHashes(key);
    filter.add(h1, h2);
    this.dirty = true;
    const pending = this.rebuilding.get(tenantId);
    if (pending) pending.push([h1, h2]);
    else if (
      filter.filters.length >= (this.opts.maxChain ?? MAX_CHAIN) &&
      this.opts.settled &&
      (this.rebuildFailedAt.get(tenantId) ?? -Infinity) <= Date.now() - REBUILD_RETRY_MS
    ) {
      const running: Promise<void> = this.rebuild(tenantId).finally(() => this.running.delete(running));
      this.running.add(running);
    }
  }

  /** Resolves when no tenant's filter is being rebuilt. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }

  /**
   * Replaces a tenant's chain by one filter sized for all its keys, read from `event_keys` on this index's own
   * connection. Until the swap the chain keeps answering (and gaining keys, also noted for the new filter).
   */
  private async rebuild(tenantId: string): Promise<void> {
    const pending: Array<[number, number]> = [];
    this.rebuilding.set(tenantId, pending);
    const started = performance.now();
    try {
      await this.opts.settled!();
      const [count] = await this.keyCounts(0, tenantId);
      const filter = KeyFilter.sizedFor(count?.keys ?? 0);
      const read = count ? await this.addKeys(tenantId, 0, filter) : 0;
      for (const [h1, h2] of pending) filter.add(h1, h2);
      const was = this.filters.get(tenantId);
      this.filters.set(tenantId, filter);
      this.dirty = true;
      this.rebuilds++;
      this.log.info(
        { tenantId, keysRead: read, filtersBefore: was?.filters.length, bytesBefore: was?.bytes, bytes: filter.bytes, ms: Math.round(performance.now() - started) },
        'ingest key filter of a tenant rebuilt',
      );
    } catch (err) {
      // The chain stays in use, as exact as before; a key added after REBUILD_RETRY_MS tries again.
      this.rebuildFailedAt.set(tenantId, Date.now());
      this.log.warn({ err, tenantId }, 'ingest key filter rebuild failed');
    } finally {
      this.rebuilding.delete(tenantId);
    }
  }

  /** Keys known stored with their fingerprints (committed by this writer, or found by a look-up). */
  remember(id: string, payloadHash: string): void {
    if (this.ring.length === 0 || this.recent.has(id)) return;
    const evicted = this.ring[this.ringNext];
    if (evicted !== undefined) this.recent.delete(evicted);
    this.ring[this.ringNext] = id;
    this.ringNext = (this.ringNext + 1) % this.ring.length;
    this.recent.set(id, payloadHash);
  }

  stats(): KeyIndexStats {
    let keys = 0;
    let filterBytes = 0;
    for (const f of this.filters.values()) {
      keys += f.keys;
      filterBytes += f.bytes;
    }
    return { tenants: this.filters.size, keys, filterBytes, recentKeys: this.recent.size, rebuilds: this.rebuilds };
  }

  /** Loads the snapshot and reads back the keys inserted since; without a usable snapshot, reads every key. */
  async load(): Promise<LoadReport> {
    const started = performance.now();
    ensurePrivateDir(path.dirname(this.opts.file));
    tightenFile(this.opts.file);
    const table = await this.tableId();
    const snapshot = await this.readSnapshot(table).catch((err: unknown) => {
      this.log.warn({ err }, 'key filter snapshot unreadable; rebuilding from event_keys');
      return undefined;
    });
    let keysRead = 0;
    if (snapshot) for (const [tenantId, filter] of snapshot.filters) this.filters.set(tenantId, filter);
    const sinceSeconds = snapshot ? Math.floor(snapshot.coveredUntilMs / 1000) : 0;
    for (const { tenantId, keys } of await this.keyCounts(sinceSeconds)) {
      // A full rebuild sizes each tenant's filter for its keys; a snapshot's filters take the tail.
      let filter = this.filters.get(tenantId);
      if (!filter) this.filters.set(tenantId, (filter = snapshot ? new KeyFilter() : KeyFilter.sizedFor(keys)));
      keysRead += await this.addKeys(tenantId, sinceSeconds, filter);
    }
    const stats = this.stats();
    // A full rebuild is worth keeping at once: the next start then reads only the tail.
    this.dirty = !snapshot || keysRead > 0;
    return { mode: snapshot ? 'snapshot' : 'full', ms: performance.now() - started, keysRead, keys: stats.keys, filterBytes: stats.filterBytes };
  }

  /** Writes the filters to the snapshot file (atomically: a temporary file renamed over it). */
  snapshot(): Promise<void> {
    if (!this.dirty) return this.snapshotting ?? Promise.resolve();
    return (this.snapshotting ??= this.writeSnapshot().finally(() => (this.snapshotting = undefined)));
  }

  private async writeSnapshot(): Promise<void> {
    this.dirty = false;
    const header: SnapshotHeader = {
      table: await this.tableId(),
      coveredUntilMs: Date.now() - SNAPSHOT_MARGIN_MS,
      tenants: [...this.filters].map(([tenantId, f]) => ({ tenantId, filters: f.filters.map((b) => ({ capacity: b.capacity, count: b.count })) })),
    };
    // Written as they are, not copied (a copy would double the filters' memory at each snapshot): bits set while
    // the file is written belong to keys inserted after coveredUntilMs, which the next start reads back anyway.
    const words = [...this.filters.values()].flatMap((f) => f.filters.map((b) => b.words));
    const headerBytes = Buffer.from(JSON.stringify(header));
    const prefix = Buffer.alloc(MAGIC.length + 4);
    prefix.write(MAGIC, 0, 'latin1');
    prefix.writeUInt32LE(headerBytes.length, MAGIC.length);
    ensurePrivateDir(path.dirname(this.opts.file));
    const tmp = `${this.opts.file}.tmp`;
    // A leftover temporary file would keep its old mode through open().
    await rm(tmp, { force: true });
    const fh = await open(tmp, 'w', privateFileMode);
    try {
      await fh.write(prefix);
      await fh.write(headerBytes);
      for (const w of words) await fh.write(new Uint8Array(w.buffer, w.byteOffset, w.byteLength));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.opts.file);
  }

  private async readSnapshot(table: string): Promise<{ coveredUntilMs: number; filters: Map<string, KeyFilter> } | undefined> {
    let fh;
    try {
      fh = await open(this.opts.file, 'r');
    } catch {
      return undefined;
    }
    try {
      const prefix = Buffer.alloc(MAGIC.length + 4);
      await fh.read(prefix, 0, prefix.length, 0);
      if (prefix.toString('latin1', 0, MAGIC.length) !== MAGIC) throw new Error('not a key filter snapshot');
      const headerLength = prefix.readUInt32LE(MAGIC.length);
      const headerBytes = Buffer.alloc(headerLength);
      await fh.read(headerBytes, 0, headerLength, prefix.length);
      const header = JSON.parse(headerBytes.toString('utf8')) as SnapshotHeader;
      if (header.table !== table) {
        this.log.info('key filter snapshot is of another event_keys table; rebuilding');
        await rm(this.opts.file, { force: true });
        return undefined;
      }
      let position = prefix.length + headerLength;
      const filters = new Map<string, KeyFilter>();
      for (const t of header.tenants) {
        const blooms: BlockBloom[] = [];
        for (const f of t.filters) {
          const bloom = new BlockBloom(f.capacity, f.count);
          const view = new Uint8Array(bloom.words.buffer);
          const { bytesRead } = await fh.read(view, 0, view.length, position);
          if (bytesRead !== view.length) throw new Error('key filter snapshot is truncated');
          position += view.length;
          blooms.push(bloom);
        }
        filters.set(t.tenantId, new KeyFilter(blooms));
      }
      return { coveredUntilMs: header.coveredUntilMs, filters };
    } finally {
      await fh.close();
    }
  }

  private async tableId(): Promise<string> {
    const [row] = await eventKeysTable(this.client, {});
    if (!row) throw new Error('the event_keys table is missing: migrations have not run');
    return row.id;
  }

  /** Keys per tenant inserted since `sinceSeconds` (epoch seconds), of one tenant when `tenantId` is given. */
  private async keyCounts(sinceSeconds: number, tenantId = ''): Promise<Array<{ tenantId: string; keys: number }>> {
    return keyCounts(this.client, { since: sinceSeconds, tenantId });
  }

  /**
   * Adds a tenant's keys inserted since `sinceSeconds` to `filter`. The engine hashes the keys (the same functions as
   * keyHashes), so 8 bytes a key travel instead of the key.
   */
  // Read as a raw stream, outside the data-access layer: millions of 8-byte rows that never become objects.
  private async addKeys(tenantId: string, sinceSeconds: number, filter: KeyFilter): Promise<number> {
    const result = await this.client.exec({ query: loadSql('ingest/key_hashes'), query_params: { since: sinceSeconds, tenantId } });
    let read = 0;
    let carry: Buffer = Buffer.alloc(0);
    for await (const chunk of result.stream as AsyncIterable<Buffer>) {
      const buf = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      const whole = buf.length - (buf.length % 8);
      for (let i = 0; i < whole; i += 8) filter.add(buf.readUInt32LE(i), buf.readUInt32LE(i + 4));
      read += whole / 8;
      carry = buf.subarray(whole);
    }
    if (carry.length > 0) throw new Error('key hashes ended mid-row');
    return read;
  }
}
