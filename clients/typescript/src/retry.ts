/**
 * Sending one request again until the service takes it. Shared by the client's ingest buffer and `stripemeter import`
 * (through the buffer), so both back off the same way. No dependencies: it runs wherever `fetch` does.
 */

export type RetryPolicy = {
  /** Attempts in all, the first included; then the request is reported as failed. */
  maxAttempts: number;
  /** The first backoff's ceiling; each later one doubles it, up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** A `Retry-After` longer than this is cut to it, so a bad header cannot stall a sender for hours. */
  maxRetryAfterMs: number;
};

export const defaultRetryPolicy: RetryPolicy = { maxAttempts: 8, baseDelayMs: 250, maxDelayMs: 15_000, maxRetryAfterMs: 60_000 };

/**
 * Statuses worth sending again unchanged: 429 (the ingest queue is full), 503 (storage unreachable or overloaded) and
 * 507 (the data volume is below its free-space floor), where the service stored nothing of the request and asks for a
 * retry after `Retry-After`; 502 and 504, which a proxy in front of it answers when it could not reach it. Any other
 * answer would be the same the next time.
 */
export const retryableStatuses: ReadonlySet<number> = new Set([429, 502, 503, 504, 507]);

/** The final answer, its body read (a connection that breaks while the body streams is retried like any other). */
export type Answer = { ok: true; status: number; headers: Headers; text: string; attempts: number };
/** No answer worth keeping after every attempt: the last retryable status (if any) and what went wrong. */
export type GaveUp = { ok: false; status?: number; problem: string; attempts: number };

/**
 * "Full jitter": a random wait between 0 and the exponential ceiling, so clients refused together do not come back
 * together. Attempt 1 is the first retry.
 */
export function backoffMs(retry: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  return Math.floor(random() * ceiling);
}

/** `Retry-After` in milliseconds: delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, nowMs: number = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

/** Whether a thrown error is the caller's own abort, which must stop the retries rather than be retried. */
const isAbort = (err: unknown) => (err as { name?: string } | null)?.name === 'AbortError';

/** What went wrong on the wire, as undici reports it (its TypeError says only "fetch failed"; the cause says why). */
const networkProblem = (err: unknown) => {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Calls `send` until an answer is not retryable or attempts run out. `send` must make the same request each time
 * (same body, so the same idempotency keys): that is what makes resending safe. The wait before a retry is the
 * backoff, or the server's `Retry-After` when that is longer (a server that keeps refusing is backed off further).
 */
export async function sendWithRetry(send: () => Promise<Response>, policy: RetryPolicy = defaultRetryPolicy, wait: (ms: number) => Promise<void> = sleep): Promise<Answer | GaveUp> {
  let problem = '';
  let status: number | undefined;
  for (let attempt = 1; ; attempt++) {
    let asked: number | undefined;
    try {
      const res = await send();
      const text = await res.text();
      if (!retryableStatuses.has(res.status)) return { ok: true, status: res.status, headers: res.headers, text, attempts: attempt };
      status = res.status;
      problem = `${res.status} ${errorSummary(text)}`.trim();
      asked = retryAfterMs(res.headers.get('retry-after'));
    } catch (err) {
      if (isAbort(err)) throw err;
      status = undefined;
      problem = networkProblem(err);
    }
    if (attempt >= policy.maxAttempts) return { ok: false, ...(status === undefined ? {} : { status }), problem, attempts: attempt };
    const backoff = backoffMs(attempt, policy);
    await wait(asked === undefined ? backoff : Math.max(Math.min(asked, policy.maxRetryAfterMs), backoff));
  }
}

/** The `{code, message}` of the service's error body (`{"error": {...}}`), if the text is one. */
export function serviceError(text: string): { code: string; message: string } | undefined {
  try {
    const error = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    if (error && typeof error.code === 'string') return { code: error.code, message: typeof error.message === 'string' ? error.message : error.code };
  } catch {
    // not JSON: a proxy's page, say
  }
  return undefined;
}

/** `code: message` of a service error body, else the start of the text. */
export function errorSummary(text: string): string {
  const error = serviceError(text);
  return error ? `${error.code}: ${error.message}` : text.slice(0, 200);
}
