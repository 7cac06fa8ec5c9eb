import { IngestBuffer, type EventResult } from '../../clients/typescript/src/ingest.js';
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
  /** JSON characters per request (the client's default: 4 MiB), under the service's 5 MiB body limit. */
  maxBatchBytes?: number;
  /** Attempts per request on 429, 502-504, 507 and network errors, with backoff (the client's default: 8), before giving up. */
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

/**
 * Sends records through the client's ingest buffer (clients/typescript): batches of `batchSize`, `concurrency`
 * requests at a time, each retried with the same body on 429, 502-504, 507 and network errors; a batch refused as a
 * whole (an unknown tenant in it) is halved until the refused lines stand alone. Reading waits while
 * `concurrency + 1` batches are unanswered, so memory stays flat whatever the input's size. Safe to re-run: every
 * event keeps its key (or the service derives the same one from its content), so what was stored answers `duplicate`.
 */
export async function importRecords(records: AsyncIterable<InputRecord>, options: ImportOptions, onProgress?: (s: ImportSummary) => void): Promise<ImportSummary> {
  const summary: ImportSummary = { read: 0, accepted: 0, duplicates: 0, rejected: 0, beyondWindow: new Map() };

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

  const tally = (result: EventResult<Sendable>) => {
    const record = result.event;
    if (result.status === 'accepted') {
      summary.accepted++;
      if (result.lateness === 'beyond_window') beyond(record.info);
    } else if (result.status === 'duplicate') {
      summary.duplicates++;
    } else if (result.status === 'rejected') {
      const { code, message, field, httpStatus } = result.error;
      // A refusal of a request narrowed down to this line says its status, as the service answered it.
      reject(record.line, record.text, { code, message: httpStatus ? `${httpStatus}: ${message}` : message, ...(field ? { field } : {}) });
    } else {
      // Not sent, or not answered: stop, since the next batches would fare the same; a re-run sends the rest.
      const { code, message, httpStatus, attempts } = result.error;
      summary.aborted ??=
        httpStatus === 401
          ? `401 ${message}: check STRIPEMETER_KEY`
          : code === 'retries_exhausted'
            ? `the server did not take a batch after ${attempts} attempts: ${message}`
            : `${httpStatus ? `${httpStatus} ` : ''}${code}: ${message}`;
    }
  };

  const buffer = new IngestBuffer<Sendable>({
    baseUrl: options.url,
    apiKey: options.key,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    contentType: options.format === 'cloudevents' ? 'application/cloudevents-batch+json' : 'application/json',
    maxBatchEvents: options.batchSize,
    ...(options.maxBatchBytes ? { maxBatchBytes: options.maxBatchBytes } : {}),
    concurrency: options.concurrency,
    // Batches go when full (`--batch` events, or 4 MiB of JSON) and at the end, not on a timer.
    flushIntervalMs: 0,
    ...(options.maxAttempts ? { retry: { maxAttempts: options.maxAttempts } } : {}),
    onResults: (results) => {
      for (const result of results) if (!summary.aborted || result.status !== 'failed') tally(result);
      onProgress?.(summary);
    },
  });

  for await (const record of records) {
    if (summary.aborted) break;
    summary.read++;
    if ('error' in record) {
      reject(record.line, record.text, record.error);
      continue;
    }
    await buffer.addJson(record.json, record);
  }
  if (summary.aborted) await buffer.abort();
  else await buffer.close();
  return summary;
}
