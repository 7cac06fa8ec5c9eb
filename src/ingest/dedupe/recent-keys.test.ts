import { describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import { createLogger } from '../../log.js';
import { KeyIndex } from './key-index.js';

const index = (recentKeys: number) => new KeyIndex(undefined as unknown as ClickHouseClient, { file: '/nonexistent', recentKeys }, createLogger('silent'));

describe('recently committed keys', () => {
  it('keeps the last N keys exactly and evicts the oldest, in constant time per key', () => {
    const keys = index(1000);
    for (let i = 0; i < 5000; i++) keys.remember(`demo\u0000k${i}`, `h${i}`);
    expect(keys.stats().recentKeys).toBe(1000);
    expect(keys.recentHash('demo\u0000k3999')).toBeUndefined();
    expect(keys.recentHash('demo\u0000k4000')).toBe('h4000');
    expect(keys.recentHash('demo\u0000k4999')).toBe('h4999');
    // 200,000 keys through a full map: the old Map-iterator eviction took seconds here (quadratic), this takes ms.
    const big = index(50_000);
    const t0 = performance.now();
    for (let i = 0; i < 200_000; i++) big.remember(`demo\u0000key-${i}`, 'x');
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('holds nothing when turned off', () => {
    const keys = index(0);
    keys.remember('demo\u0000a', 'h');
    expect(keys.recentHash('demo\u0000a')).toBeUndefined();
  });
});
