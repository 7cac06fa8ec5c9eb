import { describe, expect, it } from 'vitest';
import { BlockBloom, KeyFilter, MIN_CAPACITY } from './key-filter.js';
import { keyHashes } from './key-hash.js';

const hashesOf = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => keyHashes(`${prefix}-${i}-${(i * 2654435761) >>> 0}`));

describe('BlockBloom', () => {
  it('never forgets a key, and answers "maybe" for under 0.25% of unseen keys at full load', () => {
    const bloom = new BlockBloom(200_000);
    const seen = hashesOf('seen', 200_000);
    for (const [a, b] of seen) bloom.add(a, b);
    expect(bloom.full).toBe(true);
    expect(seen.every(([a, b]) => bloom.mayContain(a, b))).toBe(true);
    const unseen = hashesOf('unseen', 200_000);
    const falsePositives = unseen.filter(([a, b]) => bloom.mayContain(a, b)).length;
    // 16 bits a key in 256-bit blocks: 0.14% measured; the bound leaves room for other key shapes.
    expect(falsePositives / unseen.length).toBeLessThan(0.0025);
    expect(bloom.words.byteLength).toBe(200_000 * 2);
  });
});

describe('KeyFilter', () => {
  it('grows as a chain of doubling filters and keeps every key', () => {
    const filter = new KeyFilter();
    const keys = hashesOf('k', MIN_CAPACITY * 3 + 1000);
    for (const [a, b] of keys) filter.add(a, b);
    expect(filter.filters.map((f) => f.capacity)).toEqual([MIN_CAPACITY, MIN_CAPACITY * 2, MIN_CAPACITY * 4]);
    // A key the filter already answers "maybe" for is not added again (a false positive needs no bits of its own).
    expect(filter.keys).toBeLessThanOrEqual(keys.length);
    expect(filter.keys).toBeGreaterThan(keys.length * 0.998);
    expect(keys.every(([a, b]) => filter.mayContain(a, b))).toBe(true);
    const unseen = hashesOf('u', 100_000);
    expect(unseen.filter(([a, b]) => filter.mayContain(a, b)).length / unseen.length).toBeLessThan(0.003);
  });

  it('sizes a rebuilt filter for the keys it will hold', () => {
    expect(KeyFilter.sizedFor(10).filters[0]!.capacity).toBe(MIN_CAPACITY);
    expect(KeyFilter.sizedFor(1_000_000).filters[0]!.capacity).toBe(1_500_000);
  });
});
