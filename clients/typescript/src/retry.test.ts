import { describe, expect, it } from 'vitest';
import { backoffMs, defaultRetryPolicy, retryAfterMs, sendWithRetry } from './retry.js';

describe('retry', () => {
  it('backs off with full jitter: between 0 and a ceiling that doubles up to maxDelayMs', () => {
    const policy = { ...defaultRetryPolicy, baseDelayMs: 100, maxDelayMs: 1000 };
    expect([1, 2, 3, 4, 5].map((retry) => backoffMs(retry, policy, () => 0.999999))).toEqual([99, 199, 399, 799, 999]);
    expect(backoffMs(3, policy, () => 0)).toBe(0);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs('2')).toBe(2000);
    expect(retryAfterMs(new Date(61_000).toUTCString(), 1000)).toBe(60_000);
    expect(retryAfterMs(null)).toBeUndefined();
    expect(retryAfterMs('soon')).toBeUndefined();
  });

  it('waits the longer of Retry-After (capped) and the backoff, and stops at maxAttempts', async () => {
    const waits: number[] = [];
    let calls = 0;
    const answer = await sendWithRetry(
      async () => {
        calls++;
        return new Response('{"error":{"code":"ingest_overloaded","message":"busy"}}', { status: 429, headers: { 'retry-after': calls === 1 ? '3' : '999' } });
      },
      { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 10, maxRetryAfterMs: 5000 },
      async (ms) => void waits.push(ms),
    );
    expect(calls).toBe(3);
    expect(waits).toEqual([3000, 5000]);
    expect(answer).toEqual({ ok: false, status: 429, problem: '429 ingest_overloaded: busy', attempts: 3 });
  });

  it('answers the first response that is not retryable, body read, without waiting', async () => {
    const waits: number[] = [];
    const answer = await sendWithRetry(async () => new Response('nope', { status: 400 }), defaultRetryPolicy, async (ms) => void waits.push(ms));
    expect(answer).toMatchObject({ ok: true, status: 400, text: 'nope', attempts: 1 });
    expect(waits).toEqual([]);
  });
});
