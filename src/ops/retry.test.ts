import { describe, expect, it } from 'vitest';
import { backoffMs, RetryStopped, withRetries, type RetryPolicy } from './retry.js';

const policy: RetryPolicy = { attempts: 4, baseMs: 100, jitter: false };

/** A call failing with the given errors first, then answering 'done'; and the waits it was made to sleep. */
function flaky(failures: unknown[]) {
  const waits: number[] = [];
  let calls = 0;
  return {
    waits,
    calls: () => calls,
    call: async () => {
      calls++;
      if (failures.length) throw failures.shift();
      return 'done';
    },
    sleep: async (ms: number) => {
      waits.push(ms);
    },
  };
}

describe('backoffMs', () => {
  it('doubles per attempt, and jitter scales it by 0.5x to 1.5x', () => {
    expect([1, 2, 3].map((a) => backoffMs(policy, a))).toEqual([100, 200, 400]);
    const jittered = { ...policy, jitter: true };
    expect(backoffMs(jittered, 2, () => 0)).toBe(100);
    expect(backoffMs(jittered, 2, () => 0.999)).toBeCloseTo(299.8);
  });
});

describe('withRetries', () => {
  it('retries a passing failure with the back-off, or the wait the failure names, until the call works', async () => {
    const f = flaky([new Error('a'), new Error('b')]);
    const retrying: boolean[] = [];
    const out = await withRetries(f.call, policy, {
      retryable: (err) => ((err as Error).message === 'b' ? 1234 : true),
      onFailure: (_err, _attempt, r) => retrying.push(r),
      sleep: f.sleep,
    });
    expect(out).toBe('done');
    expect(f.waits).toEqual([100, 1234]);
    expect(retrying).toEqual([true, true]);
  });

  it('gives up at once on a failure that cannot pass, and after the last attempt otherwise', async () => {
    const refused = flaky([new Error('refused')]);
    await expect(withRetries(refused.call, policy, { retryable: () => false, sleep: refused.sleep })).rejects.toThrow('refused');
    expect(refused.calls()).toBe(1);

    const down = flaky(['1', '2', '3', '4', '5'].map((m) => new Error(m)));
    const retrying: boolean[] = [];
    await expect(withRetries(down.call, policy, { retryable: () => true, onFailure: (_e, _a, r) => retrying.push(r), sleep: down.sleep })).rejects.toThrow('4');
    expect(down.calls()).toBe(4);
    expect(down.waits).toEqual([100, 200, 400]);
    expect(retrying).toEqual([true, true, true, false]);
  });

  it('stops: no attempt starts once stopped, and a back-off in progress ends in RetryStopped', async () => {
    let stopped = false;
    const f = flaky([new Error('x')]);
    const sleep = async () => {
      stopped = true;
    };
    const err = await withRetries(f.call, policy, { retryable: () => true, stopped: () => stopped, sleep }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryStopped);
    expect((err as RetryStopped).lastError).toEqual(new Error('x'));
    expect(f.calls()).toBe(1);

    const g = flaky([new Error('y')]);
    await expect(withRetries(g.call, policy, { retryable: () => true, stopped: () => true, sleep: g.sleep })).rejects.toThrow('y');
    expect(g.waits).toEqual([]);
  });
});
