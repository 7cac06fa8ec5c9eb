import Stripe from 'stripe';
import type { RetryPolicy } from '../ops/retry.js';

/** What to do after a failed Stripe call. */
export type StripeFailure =
  | { kind: 'rate_limited'; retryAfterMs: number; status: number; message: string }
  | { kind: 'transient'; status: number; type: string; message: string }
  | { kind: 'auth'; status: number; message: string }
  | { kind: 'permanent'; status: number; code: string; message: string };

/**
 * 429: wait Retry-After and retry. 5xx, 409 (lock contention), timeouts and connection errors: the request may or may
 * not have landed, so retry with the same identifier. 401/403: the key itself is bad. Other 4xx: Stripe refused the
 * event (deleted customer, inactive meter, bad value); nothing was recorded and retrying as-is cannot succeed.
 */
export function classifyStripeError(err: unknown): StripeFailure {
  if (err instanceof Stripe.errors.StripeError) {
    const status = err.statusCode ?? 0;
    const message = err.message;
    if (status === 429 || err.type === 'StripeRateLimitError') {
      const header = (err.headers as Record<string, string> | undefined)?.['retry-after'];
      const seconds = Number(header);
      return { kind: 'rate_limited', retryAfterMs: Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 1000, status: 429, message };
    }
    if (status === 401 || status === 403 || err.type === 'StripeAuthenticationError' || err.type === 'StripePermissionError') {
      return { kind: 'auth', status, message };
    }
    if (status >= 400 && status < 500 && status !== 409) {
      return { kind: 'permanent', status, code: err.code ?? err.type, message };
    }
    return { kind: 'transient', status, type: err.type, message };
  }
  return { kind: 'transient', status: 0, type: 'unknown', message: (err as Error)?.message ?? String(err) };
}

/** What a StripeGateway call rejects with: the failure, already classified. */
export class StripeCallError extends Error {
  constructor(readonly failure: StripeFailure) {
    super(failure.message);
  }
}

/** The failure behind anything a Stripe call threw. */
export const failureOf = (err: unknown): StripeFailure => (err instanceof StripeCallError ? err.failure : classifyStripeError(err));

/** The one retry and back-off policy of Stripe calls (push, reconciliation): 200 ms doubling, jittered, 5 attempts. */
export const stripeRetry: RetryPolicy = { attempts: 5, baseMs: 200, jitter: true };

/**
 * Whether, and after how long, a failed Stripe call is tried again (a RetryHooks `retryable`): a 429 after its
 * Retry-After plus up to 250 ms of jitter, a transient failure after the policy's back-off, a refusal never.
 */
export function stripeRetryable(err: unknown): boolean | number {
  const f = failureOf(err);
  if (f.kind === 'rate_limited') return f.retryAfterMs + Math.random() * 250;
  return f.kind === 'transient';
}
