/**
 * How often a call is tried and how long to wait between tries: `baseMs` doubled per attempt, and with `jitter`
 * scaled by a random 0.5x-1.5x so that callers which failed together do not all retry at the same moment.
 */
export type RetryPolicy = { attempts: number; baseMs: number; jitter: boolean };

/** The wait after failed attempt `attempt` (1-based) before the next one. */
export function backoffMs(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  return policy.baseMs * 2 ** (attempt - 1) * (policy.jitter ? 0.5 + random() : 1);
}

/** Thrown when the loop was stopped during a back-off: the call was not tried again after `lastError`. */
export class RetryStopped extends Error {
  constructor(readonly lastError: unknown) {
    super('stopped before trying again');
  }
}

export type RetryHooks = {
  /**
   * Asked only while attempts are left: false gives up at once (the failure cannot pass), true waits the policy's
   * back-off, a number waits that many milliseconds (a wait the other side asked for, such as Retry-After).
   */
  retryable(err: unknown, attempt: number): boolean | number;
  /** After every failed attempt; `retrying` says whether another attempt follows. */
  onFailure?(err: unknown, attempt: number, retrying: boolean): void;
  /** Once true, no further attempt starts: a failure is final, and a back-off ends in RetryStopped. */
  stopped?(): boolean;
  sleep?(ms: number): Promise<void>;
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The one retry loop: calls `call` until it succeeds, the failure is not retryable, the attempts are spent (the last
 * failure is thrown) or the caller stops.
 */
export async function withRetries<T>(call: (attempt: number) => Promise<T>, policy: RetryPolicy, hooks: RetryHooks): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call(attempt);
    } catch (err) {
      const wait = attempt < policy.attempts && !hooks.stopped?.() ? hooks.retryable(err, attempt) : false;
      hooks.onFailure?.(err, attempt, wait !== false);
      if (wait === false) throw err;
      await (hooks.sleep ?? sleep)(wait === true ? backoffMs(policy, attempt) : wait);
      if (hooks.stopped?.()) throw new RetryStopped(err);
    }
  }
}
