import type { ImportFormat, InputRecord, RecordInfo } from './records.js';

export type Rejection = { line: number; code: string; message: string; field?: string; text: string };

export type ImportOptions = {
  url: string;
  key: string;
  format: ImportFormat;
  /** Events per request (the service takes up to 10,000). */
  batchSize: number;
  /** Requests in flight. */
  concurrency: number;
  /** JSON bytes per request, under the service's 5 MiB body limit. */
  maxBatchBytes?: number;
  /** Attempts per request on 429, 5xx and network errors, with exponential backoff, before giving up. */
  maxAttempts?: number;
  fetch?: typeof fetch;
  onRejected(rejection: Rejection): void;
};

/** Events beyond the lateness window, per tenant (null: the key's own tenant), for the replay that counts them. */
export type BeyondWindow = Map<string | null, { metrics: Set<string>; minTsMs: number; maxTsMs: number; events: number }>;

export type ImportSummary = {
  read: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  beyondWindow: BeyondWindow;
  /** Set when the import stopped early (bad key, server gone): the lines not answered were not all sent. */
  aborted?: string;
};

type Sendable = Extract<InputRecord, { json: string }>;

class Fatal extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Sends records in batches, `concurrency` requests at a time; reading waits while they are all in flight, so memory
 * holds at most `concurrency + 1` batches whatever the input's size. Safe to re-run: every event keeps its key (or the
 * service derives the same one from its content), so what was stored answers `duplicate`.
 */
export async function importRecords(records: AsyncIterable<InputRecord>, options: ImportOptions, onProgress?: (s: ImportSummary) => void): Promise<ImportSummary> {
  const summary: ImportSummary = { read: 0, accepted: 0, duplicates: 0, rejected: 0, beyondWindow: new Map() };
  const maxBatchBytes = options.maxBatchBytes ?? 4 * 1024 * 1024;
  const maxAttempts = options.maxAttempts ?? 8;
  const doFetch = options.fetch ?? globalThis.fetch;
  const endpoint = `${options.url.replace(/\/+$/, '')}/v1/events/ingest`;
  const contentType = options.format === 'cloudevents' ? 'application/cloudevents-batch+json' : 'application/json';
  const inFlight = new Set<Promise<void>>();

  const reject = (line: number, text: string, error: { code: string; message: string; field?: string }) => {
    summary.rejected++;
    options.onRejected({ line, text, ...error });
  };

  const beyond = (info: RecordInfo | null) => {
    if (!info) return;
    let entry = summary.beyondWindow.get(info.tenantId);
    if (!entry) summary.beyondWindow.set(info.tenantId, (entry = { metrics: new Set(), minTsMs: info.tsMs, maxTsMs: info.tsMs, events: 0 }));
    entry.metrics.add(info.metric);
    entry.minTsMs = Math.min(entry.minTsMs, info.tsMs);
    entry.maxTsMs = Math.max(entry.maxTsMs, info.tsMs);
    entry.events++;
  };

  /** One request, retried on 429/5xx/network errors with the same body (so the same keys). */
  async function post(batch: Sendable[]): Promise<{ status: number; body: any }> {
    const json = batch.map((r) => r.json).join(',');
    const body = options.format === 'cloudevents' ? `[${json}]` : `{"events":[${json}]}`;
    let lastProblem = '';
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      let retryAfterMs: number | undefined;
      try {
        const res = await doFetch(endpoint, {
          method: 'POST',
          headers: { authorization: `Bearer ${options.key}`, 'content-type': contentType },
          body,
        });
        const text = await res.text();
        let parsed: any;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = { error: { code: 'http_error', message: text.slice(0, 200) || res.statusText } };
        }
        if (res.status !== 429 && res.status < 500) return { status: res.status, body: parsed };
        lastProblem = `${res.status} ${parsed?.error?.code ?? ''} ${parsed?.error?.message ?? ''}`.trim();
        const seconds = Number(res.headers.get('retry-after'));
        if (Number.isFinite(seconds) && seconds > 0) retryAfterMs = Math.min(seconds, 60) * 1000;
      } catch (err) {
        lastProblem = (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message;
      }
      if (attempt < maxAttempts) {
        const backoff = Math.min(250 * 2 ** (attempt - 1), 15_000);
        await sleep(retryAfterMs ?? backoff / 2 + Math.random() * (backoff / 2));
      }
    }
    throw new Fatal(`the server did not take a batch after ${maxAttempts} attempts: ${lastProblem}`);
  }

  /** Sends a batch; one the service refuses as a whole (an unknown tenant in it, say) is halved until the bad lines stand alone. */
  async function send(batch: Sendable[]): Promise<void> {
    const { status, body } = await post(batch);
    if (status === 401) throw new Fatal(`401 ${body?.error?.message ?? 'unauthorized'}: check STRIPEMETER_KEY`);
    if (status !== 200) {
      if (batch.length > 1) {
        const half = Math.ceil(batch.length / 2);
        await send(batch.slice(0, half));
        await send(batch.slice(half));
        return;
      }
      const error = body?.error ?? {};
      const record = batch[0]!;
      reject(record.line, record.text, { code: String(error.code ?? `http_${status}`), message: `${status}: ${error.message ?? 'refused'}` });
      return;
    }
    for (const result of body.results as Array<{ index: number; status: string; lateness?: string; error?: { code: string; message: string; field?: string } }>) {
      const record = batch[result.index]!;
      if (result.status === 'accepted') summary.accepted++;
      else if (result.status === 'duplicate') summary.duplicates++;
      else if (result.error) {
        // The service names the field within its batch (`events[17].quantity`); the line is what the client knows.
        const field = result.error.field?.replace(/^(events)?\[\d+\]\.?/, '');
        reject(record.line, record.text, field ? { ...result.error, field } : { code: result.error.code, message: result.error.message });
      } else reject(record.line, record.text, { code: 'rejected', message: 'rejected' });
      if (result.status === 'accepted' && result.lateness === 'beyond_window') beyond(record.info);
    }
  }

  const dispatch = async (batch: Sendable[]) => {
    while (inFlight.size >= options.concurrency) await Promise.race(inFlight);
    if (summary.aborted) return;
    const p: Promise<void> = send(batch)
      .catch((err) => {
        if (!(err instanceof Fatal)) throw err;
        summary.aborted ??= err.message;
      })
      .finally(() => {
        inFlight.delete(p);
        onProgress?.(summary);
      });
    inFlight.add(p);
  };

  let batch: Sendable[] = [];
  let bytes = 0;
  for await (const record of records) {
    if (summary.aborted) break;
    summary.read++;
    if ('error' in record) {
      reject(record.line, record.text, record.error);
      continue;
    }
    if (batch.length >= options.batchSize || (batch.length > 0 && bytes + record.json.length > maxBatchBytes)) {
      await dispatch(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(record);
    bytes += record.json.length + 1;
  }
  if (batch.length > 0 && !summary.aborted) await dispatch(batch);
  await Promise.all(inFlight);
  return summary;
}
