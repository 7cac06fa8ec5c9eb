import type { paths } from './schema.js';
import { defaultRetryPolicy, sendWithRetry, serviceError, type RetryPolicy } from './retry.js';

type IngestOperation = paths['/v1/events/ingest']['post'];
/** One event as `POST /v1/events/ingest` takes it. */
export type IngestEvent = IngestOperation['requestBody']['content']['application/json']['events'][number];
/** The service's answer to one ingest request. */
export type IngestResponse = IngestOperation['responses'][200]['content']['application/json'];
type ServiceResult = IngestResponse['results'][number];

/** The service takes at most this many events in one request. */
export const maxEventsPerRequest = 10_000;

/** Why an event was refused: the service's per-event error, or a refusal of the request narrowed down to this event. */
export type EventError = { code: string; message: string; field?: string; httpStatus?: number };

/** What became of one event, with the caller's own event (the object given to `add`, or `addJson`'s `ref`). */
export type EventResult<T> =
  /**
   * Stored. `lateness: 'late'`: older than its counter's watermark, counted all the same; `'beyond_window'`: older than
   * the lateness window, stored but not counted until a replay counts it (README "Late events and watermarks").
   */
  | { event: T; status: 'accepted'; idempotencyKey: string; lateness?: ServiceResult['lateness'] }
  /** Stored before under this key, with the same content: counted once, then. */
  | { event: T; status: 'duplicate'; idempotencyKey: string; lateness?: ServiceResult['lateness'] }
  /** The service refused the event: sending it again unchanged would be refused again. */
  | { event: T; status: 'rejected'; idempotencyKey: string | null; error: EventError }
  /**
   * Not taken: retries ran out (`retries_exhausted`), the request was refused as a whole for a reason that is not about
   * its events (`unauthorized`, a bad key), or the buffer was aborted first (`aborted`). Its idempotency key (when one
   * was known) makes sending it again later safe: what did get stored answers `duplicate`.
   */
  | { event: T; status: 'failed'; idempotencyKey: string | null; error: EventError & { attempts: number } };

export type IngestTotals = { accepted: number; duplicates: number; rejected: number; failed: number };

export type IngestOptions<T> = {
  baseUrl: string;
  apiKey: string;
  fetch?: typeof fetch;
  /** Events per request, at most (and by default) 10,000. */
  maxBatchEvents?: number;
  /** JSON characters per request (4 MiB by default), under the service's 5 MiB body limit. */
  maxBatchBytes?: number;
  /** A batch not yet full is sent this long after its first event (1,000 ms by default; 0: only when full or flushed). */
  flushIntervalMs?: number;
  /** Requests in flight at once (1 by default). */
  concurrency?: number;
  /** `add` waits while this many events are buffered or unanswered (by default a batch per request in flight plus one). */
  maxPendingEvents?: number;
  retry?: Partial<RetryPolicy>;
  /** Called once per batch with a result for each of its events. It must not throw: an error is raised by the next call. */
  onResults?: (results: EventResult<T>[]) => void;
  /** `application/cloudevents-batch+json` sends `addJson`'s items as a CloudEvents batch instead of `{"events": [...]}`. */
  contentType?: 'application/json' | 'application/cloudevents-batch+json';
};

type Item<T> = { ref: T; json: string; key: string | null };
type Batch<T> = { items: Array<Item<T>>; done: () => void };

/**
 * Refusals of a whole request that may be about some of its events only: another tenant's events (403), an unknown
 * tenant (404), too large a body (413), data the storage engine refused (422). Such a batch is halved until the
 * refused events stand alone, so one bad event never costs its neighbours. Any other refusal fails the batch as is.
 */
const splittableStatuses = new Set([403, 404, 413, 422]);

/**
 * Buffers events and sends them in batches through `POST /v1/events/ingest`, each request retried (same body, so
 * same idempotency keys) on 429, 502-504, 507 and network errors, and hands back a result for every event.
 */
export class IngestBuffer<T = IngestEvent> {
  readonly #endpoint: string;
  readonly #headers: Record<string, string>;
  readonly #fetch: typeof fetch;
  readonly #maxEvents: number;
  readonly #maxBytes: number;
  readonly #intervalMs: number;
  readonly #concurrency: number;
  readonly #maxPending: number;
  readonly #retry: RetryPolicy;
  readonly #onResults: ((results: EventResult<T>[]) => void) | undefined;
  readonly #cloudEvents: boolean;

  /** The batch being filled, and its JSON characters. */
  #open: Array<Item<T>> = [];
  #openBytes = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Batches cut and waiting for a request slot. */
  #ready: Array<Batch<T>> = [];
  #active = 0;
  /** Batches cut and not yet answered: what `flush` waits for. */
  #outstanding = new Set<Promise<void>>();
  /** Events added and not yet answered: what `add` waits on. */
  #pending = 0;
  #room: Array<() => void> = [];
  #closed = false;
  /** Set by `abort`: queued batches are not started. */
  #aborted = false;
  #failure: unknown;
  readonly #totals: IngestTotals = { accepted: 0, duplicates: 0, rejected: 0, failed: 0 };

  constructor(options: IngestOptions<T>) {
    this.#endpoint = `${options.baseUrl.replace(/\/+$/, '')}/v1/events/ingest`;
    this.#cloudEvents = options.contentType === 'application/cloudevents-batch+json';
    this.#headers = { authorization: `Bearer ${options.apiKey}`, 'content-type': options.contentType ?? 'application/json' };
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#maxEvents = atLeastOne(Math.min(options.maxBatchEvents ?? maxEventsPerRequest, maxEventsPerRequest), 'maxBatchEvents');
    this.#maxBytes = atLeastOne(options.maxBatchBytes ?? 4 * 1024 * 1024, 'maxBatchBytes');
    this.#intervalMs = options.flushIntervalMs ?? 1000;
    this.#concurrency = atLeastOne(options.concurrency ?? 1, 'concurrency');
    this.#maxPending = atLeastOne(options.maxPendingEvents ?? this.#maxEvents * (this.#concurrency + 1), 'maxPendingEvents');
    this.#retry = { ...defaultRetryPolicy, ...options.retry };
    this.#onResults = options.onResults;
  }

  /**
   * Buffers an event; waits while `maxPendingEvents` are unanswered (await it: that is the backpressure). The event is
   * serialized now, so the caller may reuse the object; one without an `idempotencyKey` gets a random one now, so every
   * retry of it carries the same key and it is counted once.
   */
  async add(event: T & IngestEvent): Promise<void> {
    const given = event.idempotencyKey;
    const key = given ?? globalThis.crypto.randomUUID();
    const json = JSON.stringify(given == null ? { ...event, idempotencyKey: key } : event);
    await this.#enqueue({ ref: event, json, key });
  }

  /**
   * Buffers an event already in JSON, sent as it is (its numbers keep their digits; no key is added: the service
   * derives one from the content). `ref` is handed back in its result.
   */
  async addJson(json: string, ref: T): Promise<void> {
    await this.#enqueue({ ref, json, key: null });
  }

  /** Sends what is buffered and resolves once every event added before it has its result. */
  async flush(): Promise<void> {
    this.#raise();
    this.#cut();
    await Promise.all([...this.#outstanding]);
    this.#raise();
  }

  /** Flushes, then refuses further events; resolves to the counts of every result handed back. */
  async close(): Promise<IngestTotals> {
    this.#closed = true;
    this.#wake();
    await this.flush();
    return { ...this.#totals };
  }

  /**
   * Stops without sending what is still buffered or queued: those events get `failed` results (`aborted`). Requests in
   * flight are answered as usual; resolves when they are.
   */
  async abort(): Promise<IngestTotals> {
    this.#closed = true;
    this.#aborted = true;
    this.#wake();
    this.#cut();
    const dropped = this.#ready.splice(0);
    for (const batch of dropped) {
      const error = { code: 'aborted', message: 'the ingest buffer was aborted before this event was sent', attempts: 0 };
      this.#complete(batch, batch.items.map((item) => failed(item, error)));
      batch.done();
    }
    await Promise.all([...this.#outstanding]);
    return { ...this.#totals };
  }

  async #enqueue(item: Item<T>): Promise<void> {
    this.#raise();
    while (this.#pending >= this.#maxPending && !this.#closed) {
      // Whatever is buffered goes out now: room comes only from answers.
      this.#cut();
      await new Promise<void>((resolve) => this.#room.push(resolve));
      this.#raise();
    }
    if (this.#closed) throw new Error('the ingest buffer is closed');
    // The check and the push run without a pause in between, so waiters woken together still keep the bound.
    if (this.#open.length > 0 && this.#openBytes + item.json.length + 1 > this.#maxBytes) this.#cut();
    this.#open.push(item);
    this.#openBytes += item.json.length + 1;
    this.#pending++;
    if (this.#open.length >= this.#maxEvents) this.#cut();
    // The timer runs only while events wait, so an idle buffer keeps no process alive.
    else if (this.#open.length === 1 && this.#intervalMs > 0) this.#timer = setTimeout(() => this.#cut(), this.#intervalMs);
  }

  /** Closes the batch being filled and queues it for sending. */
  #cut(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#open.length === 0) return;
    const items = this.#open;
    this.#open = [];
    this.#openBytes = 0;
    let done!: () => void;
    const answered = new Promise<void>((resolve) => (done = resolve));
    this.#outstanding.add(answered);
    void answered.then(() => this.#outstanding.delete(answered));
    this.#ready.push({ items, done });
    this.#pump();
  }

  /** Starts queued batches while request slots are free. */
  #pump(): void {
    while (!this.#aborted && this.#active < this.#concurrency && this.#ready.length > 0) {
      const batch = this.#ready.shift()!;
      this.#active++;
      void this.#deliver(batch.items)
        // A bug must not lose events silently: each still gets a result.
        .catch((err: unknown) => batch.items.map((item) => failed(item, { code: 'client_error', message: String(err), attempts: 0 })))
        .then((results) => this.#complete(batch, results))
        .finally(() => {
          this.#active--;
          batch.done();
          this.#pump();
        });
    }
  }

  /** Sends a batch (halving it on a refusal that may concern some events only) and gives each event its result. */
  async #deliver(items: Array<Item<T>>): Promise<Array<EventResult<T>>> {
    const json = items.map((item) => item.json).join(',');
    const body = this.#cloudEvents ? `[${json}]` : `{"events":[${json}]}`;
    const answer = await sendWithRetry(() => this.#fetch(this.#endpoint, { method: 'POST', headers: this.#headers, body }), this.#retry);
    if (!answer.ok) {
      const error = { code: 'retries_exhausted', message: answer.problem, attempts: answer.attempts, ...(answer.status ? { httpStatus: answer.status } : {}) };
      return items.map((item) => failed(item, error));
    }
    if (answer.status === 200) return resultsOf(items, answer.text, answer.attempts);
    if (splittableStatuses.has(answer.status) && items.length > 1) {
      const half = Math.ceil(items.length / 2);
      return [...(await this.#deliver(items.slice(0, half))), ...(await this.#deliver(items.slice(half)))];
    }
    const error = { ...requestError(answer.text, answer.status), httpStatus: answer.status };
    if (splittableStatuses.has(answer.status)) return [{ event: items[0]!.ref, status: 'rejected', idempotencyKey: items[0]!.key, error }];
    return items.map((item) => failed(item, { ...error, attempts: answer.attempts }));
  }

  #complete(batch: Batch<T>, results: Array<EventResult<T>>): void {
    for (const r of results) {
      if (r.status === 'duplicate') this.#totals.duplicates++;
      else this.#totals[r.status]++;
    }
    try {
      this.#onResults?.(results);
    } catch (err) {
      this.#failure ??= err;
    }
    this.#pending -= batch.items.length;
    this.#wake();
  }

  #wake(): void {
    for (const resolve of this.#room.splice(0)) resolve();
  }

  /** An error thrown by `onResults` surfaces at the caller's next call rather than nowhere. */
  #raise(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }
}

function atLeastOne(n: number, name: string): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${name} must be a whole number of at least 1, not ${n}`);
  return n;
}

function failed<T>(item: Item<T>, error: EventError & { attempts: number }): EventResult<T> {
  return { event: item.ref, status: 'failed', idempotencyKey: item.key, error };
}

/** The `{code, message}` of an error answer: the service's, else the status and the start of the text. */
function requestError(text: string, status: number): { code: string; message: string } {
  return serviceError(text) ?? { code: `http_${status}`, message: text.slice(0, 200) || `HTTP ${status}` };
}

/** Maps the service's per-index results back to the batch's events. */
function resultsOf<T>(items: Array<Item<T>>, text: string, attempts: number): Array<EventResult<T>> {
  let body: IngestResponse;
  try {
    body = JSON.parse(text) as IngestResponse;
  } catch {
    const error = { code: 'invalid_response', message: `the answer is not JSON: ${text.slice(0, 200)}`, attempts };
    return items.map((item) => failed(item, error));
  }
  return body.results.map((r): EventResult<T> => {
    const event = items[r.index]!.ref;
    if (r.status === 'rejected') {
      const error: EventError = { code: r.error?.code ?? 'rejected', message: r.error?.message ?? 'rejected' };
      // The service names a field within its batch (`events[17].quantity`, `[3].subject`); the caller knows the event.
      const field = r.error?.field?.replace(/^(events)?\[\d+\]\.?/, '');
      if (field) error.field = field;
      return { event, status: 'rejected', idempotencyKey: r.idempotencyKey, error };
    }
    const idempotencyKey = r.idempotencyKey ?? '';
    return r.lateness ? { event, status: r.status, idempotencyKey, lateness: r.lateness } : { event, status: r.status, idempotencyKey };
  });
}
