import createFetchClient, { type Client } from 'openapi-fetch';
import { IngestBuffer, type IngestEvent, type IngestOptions } from './ingest.js';
import type { paths } from './schema.js';

export { IngestBuffer, maxEventsPerRequest } from './ingest.js';
export type { EventError, EventResult, IngestEvent, IngestOptions, IngestResponse, IngestTotals } from './ingest.js';
export { backoffMs, defaultRetryPolicy, retryableStatuses, retryAfterMs, sendWithRetry, type RetryPolicy } from './retry.js';
export type { components, operations, paths } from './schema.js';

export type ClientOptions = {
  /** The service's root, e.g. `http://127.0.0.1:3000`. */
  baseUrl: string;
  /** A key with the scopes the calls need (`ingest` to send events, `read` for usage). */
  apiKey: string;
  /** A fetch of your own (a proxy agent, a test double); `globalThis.fetch` by default. */
  fetch?: typeof fetch;
};

/** Every connection option but these comes from the client. */
export type BufferOptions<T> = Omit<IngestOptions<T>, 'baseUrl' | 'apiKey' | 'fetch'>;

export type StripemeterClient = Client<paths> & {
  /** An ingest buffer on this client's connection: `add` events, `close` when done. */
  ingest<T = IngestEvent>(options?: BufferOptions<T>): IngestBuffer<T>;
};

/**
 * A client typed from the service's OpenAPI spec: `client.GET('/v1/usage', { params: { query } })` and the like check
 * paths, parameters, bodies and answers at compile time. These calls are sent once: only the ingest buffer retries,
 * because its events carry idempotency keys; for other POSTs pass an `Idempotency-Key` header before retrying one.
 */
export function createClient(options: ClientOptions): StripemeterClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const custom = options.fetch;
  const api = createFetchClient<paths>({
    baseUrl,
    headers: { authorization: `Bearer ${options.apiKey}` },
    // openapi-fetch hands over a Request; fetch takes one as its only argument.
    ...(custom ? { fetch: (request: Request) => custom(request) } : {}),
  });
  return Object.assign(api, {
    ingest: <T>(bufferOptions: BufferOptions<T> = {}) =>
      new IngestBuffer<T>({ ...bufferOptions, baseUrl, apiKey: options.apiKey, ...(custom ? { fetch: custom } : {}) }),
  }) as StripemeterClient;
}
