import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import { withRetries, type RetryPolicy } from '../ops/retry.js';
import { StorageUnavailableError, storageError } from '../storage/errors.js';
import { loadSql } from '../storage/sql.js';
import type { EventRow } from './event.js';
import type { KeyIndex } from './dedupe/key-index.js';
import { Watermarks } from './watermarks.js';

/** `late`: before its counter's watermark but inside the lateness window (counted); `beyond_window`: stored, not counted. */
export type Lateness = 'late' | 'beyond_window';
export type WriteOutcome = { status: 'accepted' | 'duplicate' | 'conflict'; lateness?: Lateness };

type Waiting = { rows: EventRow[]; tenants: Set<string>; resolve: (o: WriteOutcome[]) => void; reject: (e: unknown) => void };

/**
 * A group whose INSERT is running: its new keys are known in memory until the table shows them. `refused` holds the
 * requests whose rows the engine refused as bad data after the group was split (see `insertSplit`).
 */
type InFlight = {
  group: Waiting[];
  outcomes: WriteOutcome[];
  accepted: Map<string, string>;
  refused: Map<number, IngestDataError>;
  insert: Promise<void>;
  done: () => void;
};

/** The engine refused a request's rows as bad data (they passed validation): nothing from that request was stored. */
export class IngestDataError extends Error {}

/**
 * Engine errors about the data of an INSERT, not about the engine: an allow-list of ClickHouse error types. Such a
 * failure is the same on every retry, and it is split down to the request it comes from.
 */
const dataErrorTypes =
  /^(CANNOT_PARSE_\w+|CANNOT_READ_\w+|INCORRECT_DATA|TYPE_MISMATCH|DECIMAL_OVERFLOW|VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE|ARGUMENT_OUT_OF_BOUND|CANNOT_CONVERT_TYPE|TOO_LARGE_STRING_SIZE|INCORRECT_NUMBER_OF_COLUMNS|UNKNOWN_FIELD|CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN|ILLEGAL_COLUMN)$/;

function dataErrorType(err: unknown): string | undefined {
  const type = (err as { type?: unknown } | null)?.type;
  return typeof type === 'string' && dataErrorTypes.test(type) ? type : undefined;
}

/** The ingest queue is full (in rows or bytes): the whole request was refused before queuing, nothing stored. */
export class IngestOverloadedError extends Error {
  constructor(
    readonly reason: 'rows' | 'bytes',
    message: string,
  ) {
    super(message);
  }
}

export type WriterOptions = {
  maxRows: number;
  maxWaitMs: number;
  latenessWindowMs: number;
  /** Bounds on rows (and their estimated bytes) queued or being committed; unset means unbounded. */
  queueMaxRows?: number;
  queueMaxBytes?: number;
};

/** An events INSERT: three attempts, 100 ms then 200 ms apart. */
const insertRetry: RetryPolicy = { attempts: 3, baseMs: 100, jitter: false };

const keyOf = (row: EventRow) => `${row.tenant_id}\u0000${row.idempotency_key}`;

/**
 * The size of the rows' JSONEachRow INSERT text (176 for field names and punctuation, 6 per meta entry), from
 * string lengths: about 50 ns a row, where serialising them would cost 30 times more.
 */
function estimateBytes(rows: EventRow[]): number {
  let n = 0;
  for (const r of rows) {
    n += 176 + r.tenant_id.length + r.idempotency_key.length + r.metric.length + r.customer_ref.length;
    n += r.resource_id.length + r.quantity.length + r.ts.length + r.period.length + r.source.length + r.payload_hash.length;
    for (const k in r.meta) n += 6 + k.length + r.meta[k]!.length;
    if (r.aggregation !== undefined) {
      n += 80 + r.aggregation.length + (r.unique_value?.length ?? 0);
      for (const k in r.dimensions) n += 6 + k.length + r.dimensions[k]!.length;
    }
  }
  return n;
}

/**
 * Group commit: concurrent requests queue their validated rows; one loop takes a group, looks up which keys are
 * already stored, inserts only new keys in one large INSERT, and answers each request only after that INSERT
 * returned. Groups are judged strictly one after another, which serialises dedupe for every tenant in this
 * process: two requests carrying the same key can never both insert it, and counters (materialized views) count
 * it once. The loop is pipelined over two connections: while group N inserts, group N+1's keys are looked up;
 * N+1 is judged only once N's INSERT returned, against the table plus N's keys held in memory.
 * `exclusive(tenant)` holds back that tenant's writes, so a replay can recompute its counters against a still table.
 */
export class IngestWriter {
  private queue: Waiting[] = [];
  private queuedRows = 0;
  /** Rows and estimated bytes of requests not yet answered (queued or being committed): what the bounds limit. */
  private pendingRows = 0;
  private pendingBytes = 0;
  private running = false;
  private closed = false;
  private idle: Array<() => void> = [];
  private locked = new Set<string>();
  /** Held by `pause`: no group is taken, and no `exclusive` starts, while above 0. */
  private paused = 0;
  /** Waiting for `locked` or `paused` to change. */
  private released: Array<() => void> = [];
  /** Settles when every group taken so far has committed (or failed). */
  private settled: Promise<void> = Promise.resolve();
  private readonly watermarks: Watermarks;

  constructor(
    private readonly client: ClickHouseClient,
    private readonly lookupClient: ClickHouseClient,
    private readonly opts: WriterOptions,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    /** Absent: every key is looked up in the engine (INGEST_KEY_FILTER=off). */
    private readonly keys?: KeyIndex,
  ) {
    this.watermarks = new Watermarks(lookupClient, client);
  }

  /**
   * Queues a request's rows, or refuses them all with IngestOverloadedError when they would push the rows or bytes
   * not yet answered over their bound. An empty queue takes any request, so a legal one always gets in eventually.
   */
  write(rows: EventRow[]): Promise<WriteOutcome[]> {
    if (this.closed) return Promise.reject(new StorageUnavailableError('ingest is shutting down'));
    if (rows.length === 0) return Promise.resolve([]);
    const bytes = estimateBytes(rows);
    const { queueMaxRows = Infinity, queueMaxBytes = Infinity } = this.opts;
    const reason =
      this.pendingRows > 0 && this.pendingRows + rows.length > queueMaxRows
        ? 'rows'
        : this.pendingBytes > 0 && this.pendingBytes + bytes > queueMaxBytes
          ? 'bytes'
          : undefined;
    if (reason) {
      this.metrics.ingestBackpressureRejections.inc({ reason });
      this.metrics.ingestBackpressureRejectedEvents.inc({ reason }, rows.length);
      const [held, max] = reason === 'rows' ? [this.pendingRows, queueMaxRows] : [this.pendingBytes, queueMaxBytes];
      const message =
        `ingest is overloaded (${held} ${reason} waiting to be committed, limit ${max}); nothing from this request ` +
        'was stored: retry after Retry-After with the same idempotency keys';
      return Promise.reject(new IngestOverloadedError(reason, message));
    }
    this.hold(rows.length, bytes);
    return new Promise((resolve, reject) => {
      // Once, whichever settles the request first.
      let held = true;
      const release = () => {
        if (held) this.hold(-rows.length, -bytes);
        held = false;
      };
      this.queue.push({
        rows,
        tenants: new Set(rows.map((r) => r.tenant_id)),
        resolve: (o) => {
          release();
          resolve(o);
        },
        reject: (e) => {
          release();
          reject(e);
        },
      });
      this.queuedRows += rows.length;
      if (!this.running) void this.run();
    });
  }

  private hold(rows: number, bytes: number): void {
    this.pendingRows += rows;
    this.pendingBytes += bytes;
    this.metrics.ingestQueueRows.set(this.pendingRows);
    this.metrics.ingestQueueBytes.set(this.pendingBytes);
  }

  /**
   * Runs `fn` while no write for `tenantId` commits: groups already taken finish first, later ones wait (other
   * tenants' writes go on). Callers serialise among themselves per tenant.
   */
  async exclusive<T>(tenantId: string, fn: () => Promise<T>): Promise<T> {
    await this.until(() => this.paused === 0);
    this.locked.add(tenantId);
    try {
      await this.settled;
      return await fn();
    } finally {
      this.locked.delete(tenantId);
      this.release();
      if (!this.running && this.queue.length > 0) void this.run();
    }
  }

  /**
   * Runs `fn` while nothing writes events or counters (a backup freezing every table at one point): groups already
   * taken and `exclusive` sections already running (a replay's corrections) finish first; later ones wait, the queue
   * bounded as always.
   */
  async pause<T>(fn: () => Promise<T>): Promise<T> {
    this.paused++;
    try {
      await this.until(() => this.locked.size === 0);
      await this.settled;
      return await fn();
    } finally {
      this.paused--;
      this.release();
      if (!this.running && this.queue.length > 0) void this.run();
    }
  }

  private async until(condition: () => boolean): Promise<void> {
    while (!condition()) await new Promise<void>((resolve) => this.released.push(resolve));
  }

  private release(): void {
    for (const resolve of this.released.splice(0)) resolve();
  }

  /** Whether rows of a tenant's metric wait in the queue (not yet taken into a group). */
  queued(tenantId: string, metric: string): boolean {
    return this.queue.some((w) => w.tenants.has(tenantId) && w.rows.some((r) => r.tenant_id === tenantId && r.metric === metric));
  }

  /**
   * Whether each row's key is stored with the row's payload fingerprint, asked as dedupe asks (recent keys, key
   * filter, event_keys) but read-only, and of committed keys only: never of rows queued or inserting, so no request's
   * answer depends on what another is sending.
   */
  async known(rows: EventRow[]): Promise<boolean[]> {
    if (rows.length === 0) return [];
    let stored: Map<string, string>;
    try {
      stored = await this.lookup(rows);
    } catch (err) {
      throw storageError(err);
    }
    return rows.map((r) => stored.get(keyOf(r)) === r.payload_hash);
  }

  /** Resolves when every group taken so far has committed (or failed). */
  committed(): Promise<void> {
    return this.settled;
  }

  /** Stops taking writes, waits for queued groups to commit, and stores the latest watermarks. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.running || this.queue.length > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
    await this.watermarks.persist(true);
    await this.keys?.snapshot();
  }

  private async run(): Promise<void> {
    this.running = true;
    let inFlight: InFlight | undefined;
    try {
      for (;;) {
        // Wait briefly for more requests unless a full group is already queued: fewer, larger inserts.
        if (this.queuedRows < this.opts.maxRows && this.opts.maxWaitMs > 0) {
          await new Promise((r) => setTimeout(r, this.opts.maxWaitMs));
        }
        const group = this.takeGroup();
        if (group.length === 0) {
          if (inFlight) await this.finish(inFlight);
          inFlight = undefined;
          if (this.takeable()) continue;
          break;
        }
        let done!: () => void;
        const committed = new Promise<void>((r) => (done = r));
        const before = this.settled;
        this.settled = before.then(() => committed);
        const rows = group.flatMap((w) => w.rows);
        const started = performance.now();
        let next: InFlight | undefined;
        try {
          // Overlaps the previous group's INSERT.
          let stored = await this.lookup(rows, inFlight?.accepted);
          await this.watermarks.load(rows);
          const previousCommitted = inFlight ? await this.finish(inFlight) : true;
          // A failed INSERT may still have landed: look again rather than trust a read made while it ran.
          if (!previousCommitted) stored = await this.lookup(rows);
          next = this.judge(group, rows, stored, previousCommitted ? inFlight?.accepted : undefined, done, started);
        } catch (err) {
          if (inFlight) await this.finish(inFlight);
          this.fail(group, err);
          done();
        }
        inFlight = next;
      }
    } finally {
      this.running = false;
      if (this.queue.length === 0) for (const resolve of this.idle.splice(0)) resolve();
    }
  }

  /** Classifies a group's rows and starts its INSERT. */
  private judge(
    group: Waiting[],
    rows: EventRow[],
    stored: Map<string, string>,
    previous: Map<string, string> | undefined,
    done: () => void,
    started: number,
  ): InFlight {
    const accepted = new Map<string, string>();
    const fresh: EventRow[] = [];
    // Each request's new rows too, so a group the engine refuses as bad data can be split by request.
    const freshByRequest: EventRow[][] = group.map(() => []);
    const judgeRow = (row: EventRow, requestFresh: EventRow[]): WriteOutcome => {
      const id = keyOf(row);
      const known = stored.get(id) ?? previous?.get(id) ?? accepted.get(id);
      if (known !== undefined) return { status: known === row.payload_hash ? 'duplicate' : 'conflict' };
      accepted.set(id, row.payload_hash);
      this.keys?.add(row.tenant_id, row.idempotency_key);
      const lateness = this.watermarks.observe(row, this.opts.latenessWindowMs);
      if (lateness === 'beyond_window') {
        row.beyond_window = 1;
        this.metrics.lateEventsBeyondWindow.inc({ tenant: row.tenant_id });
      } else if (lateness === 'late') {
        this.metrics.reaggregations.inc({ reason: 'late_event' });
      }
      fresh.push(row);
      requestFresh.push(row);
      return lateness ? { status: 'accepted', lateness } : { status: 'accepted' };
    };
    const outcomes = group.flatMap((w, i) => w.rows.map((row) => judgeRow(row, freshByRequest[i]!)));
    const refused = new Map<number, IngestDataError>();
    const insert = (async () => {
      if (fresh.length > 0) {
        try {
          await this.insert(fresh);
        } catch (err) {
          const type = dataErrorType(err);
          if (type === undefined) throw err;
          await this.insertSplit(freshByRequest, type, refused, accepted);
        }
        await this.watermarks.persist();
      }
      this.metrics.ingestBatchRows.observe(rows.length);
      this.metrics.ingestCommitDuration.observe((performance.now() - started) / 1000);
    })();
    return { group, outcomes, accepted, refused, insert, done };
  }

  /**
   * After the engine refused the group's INSERT as bad data (one request's rows; nothing of that INSERT was written:
   * a group is one block, parsed whole before it is written), each request's rows go in on their own, so only the
   * request holding the bad data fails and every other request's events are stored. A refused request's keys leave
   * `accepted` (its events were not stored) and the watermarks are re-staged from the stored rows alone.
   */
  private async insertSplit(
    freshByRequest: EventRow[][],
    type: string,
    refused: Map<number, IngestDataError>,
    accepted: Map<string, string>,
  ): Promise<void> {
    this.log.warn({ type, requests: freshByRequest.length }, 'the engine refused a group commit as bad data; inserting its requests one by one');
    for (const [i, rows] of freshByRequest.entries()) {
      if (rows.length === 0) continue;
      try {
        await this.insert(rows);
      } catch (err) {
        const rowType = dataErrorType(err);
        if (rowType === undefined) throw err;
        refused.set(i, new IngestDataError(`the storage engine refused this request's events as bad data (${rowType}); nothing from it was stored`));
        for (const r of rows) accepted.delete(keyOf(r));
      }
    }
    this.watermarks.discard();
    freshByRequest.forEach((rows, i) => {
      if (!refused.has(i)) for (const r of rows) this.watermarks.observe(r, this.opts.latenessWindowMs);
    });
  }

  /** Waits for a group's INSERT and answers its requests; false when it failed. */
  private async finish(f: InFlight): Promise<boolean> {
    try {
      await f.insert;
      if (this.keys) for (const [id, hash] of f.accepted) this.keys.remember(id, hash);
      let offset = 0;
      for (const [i, w] of f.group.entries()) {
        const refused = f.refused.get(i);
        if (refused) w.reject(refused);
        else w.resolve(f.outcomes.slice(offset, offset + w.rows.length));
        offset += w.rows.length;
      }
      return true;
    } catch (err) {
      this.watermarks.discard();
      this.fail(f.group, err);
      return false;
    } finally {
      f.done();
    }
  }

  private fail(group: Waiting[], err: unknown): void {
    this.log.error({ err }, 'ingest commit failed');
    const error = new StorageUnavailableError('storage is unavailable; nothing from this request was stored, retry');
    for (const w of group) w.reject(error);
  }

  private takeable(): boolean {
    return this.paused === 0 && this.queue.some((w) => ![...w.tenants].some((t) => this.locked.has(t)));
  }

  /** Requests in arrival order up to maxRows, skipping those that touch a tenant held by `exclusive`. */
  private takeGroup(): Waiting[] {
    if (this.paused > 0) return [];
    const group: Waiting[] = [];
    const rest: Waiting[] = [];
    let rows = 0;
    for (const w of this.queue) {
      const blocked = [...w.tenants].some((t) => this.locked.has(t));
      if (!blocked && (group.length === 0 || rows + w.rows.length <= this.opts.maxRows)) {
        group.push(w);
        rows += w.rows.length;
      } else {
        rest.push(w);
      }
    }
    this.queue = rest;
    this.queuedRows -= rows;
    return group;
  }

  /**
   * Stored fingerprints of the group's keys, keyed by tenant + key. Keys of the group still inserting (`inFlight`)
   * are judged against it instead. With the key index, a key committed recently is answered from memory and a key
   * the filter rules out is new; only the rest are looked up in the engine.
   */
  private async lookup(rows: EventRow[], inFlight?: Map<string, string>): Promise<Map<string, string>> {
    const byTenant = new Map<string, Set<string>>();
    const stored = new Map<string, string>();
    let recent = 0;
    let ruledOut = 0;
    for (const r of rows) {
      if (this.keys) {
        const id = keyOf(r);
        if (inFlight?.has(id)) continue;
        const hash = this.keys.recentHash(id);
        if (hash !== undefined) {
          stored.set(id, hash);
          recent++;
          continue;
        }
        if (!this.keys.mayContain(r.tenant_id, r.idempotency_key)) {
          ruledOut++;
          continue;
        }
      }
      let keys = byTenant.get(r.tenant_id);
      if (!keys) byTenant.set(r.tenant_id, (keys = new Set()));
      keys.add(r.idempotency_key);
    }
    let looked = 0;
    for (const keys of byTenant.values()) looked += keys.size;
    if (recent > 0) this.metrics.dedupeKeys.inc({ answer: 'recent' }, recent);
    if (ruledOut > 0) this.metrics.dedupeKeys.inc({ answer: 'filter' }, ruledOut);
    if (looked > 0) this.metrics.dedupeKeys.inc({ answer: 'lookup' }, looked);
    for (const [tenantId, keySet] of byTenant) {
      const all = [...keySet];
      // Chunked so a server's URL-borne query parameters stay well under its 1 MiB URI limit.
      for (let i = 0; i < all.length; i += 10_000) {
        const chunk = all.slice(i, i + 10_000);
        // Keys travel as one newline-joined parameter: cheaper to parse than an array literal of thousands. Read as
        // tuples outside the data-access layer: a zod parse of every key of every group would cost ingest CPU.
        const rs = await this.lookupClient.query({
          query: loadSql('ingest/lookup_keys'),
          query_params: {
            tenantId,
            keys: chunk.filter((k) => !k.includes('\n')).join('\n'),
            oddKeys: chunk.filter((k) => k.includes('\n')),
          },
          format: 'JSONCompactEachRow',
        });
        for (const [key, hash] of await rs.json<[string, string]>()) stored.set(`${tenantId}\u0000${key}`, hash);
      }
    }
    return stored;
  }

  /**
   * One INSERT for the group. A retry after an ambiguous failure carries the same deduplication token, so a block
   * that did land is dropped instead of counted twice, in events and in its views' targets (each keeps a
   * deduplication window: without one a target counted the retried block again, measured).
   * The token is ours (a UUID), and it sits in the statement's SETTINGS clause: per-call settings would outlive
   * the call on an embedded connection. The two counter views are fed in parallel.
   */
  // Outside the data-access layer: the body is built as text once, and a per-row parse would cost ingest CPU.
  private async insert(rows: EventRow[]): Promise<void> {
    const token = randomUUID();
    const statement =
      `INSERT INTO events SETTINGS insert_deduplication_token = '${token}', ` +
      'deduplicate_blocks_in_dependent_materialized_views = 1, parallel_view_processing = 1 FORMAT JSONEachRow';
    let body = '';
    for (const r of rows) body += JSON.stringify(r) + '\n';
    await withRetries(
      async () => {
        const result = await this.client.exec({ query: statement, values: Readable.from([body]) });
        result.stream.resume();
      },
      insertRetry,
      {
        // Bad data fails the same way every time; anything else may be passing.
        retryable: (err) => dataErrorType(err) === undefined,
        onFailure: (err, attempt, retrying) => {
          if (retrying) this.log.warn({ err, attempt }, 'events insert failed; retrying with the same deduplication token');
        },
      },
    );
  }
}
