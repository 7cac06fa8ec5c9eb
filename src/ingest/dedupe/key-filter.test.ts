import { describe, expect, it } from 'vitest';
import { BlockBloom, KeyFilter, MIN_CAPACITY } from './key-filter.js';
import { keyHashes } from './key-hash.js';

const hashesOf = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => keyHashes(`${prefix}-${i}-${(i * 2654435761) >>> 0}`));

describe('BlockBloom', () => {
  it('never forgets a key, and answers "maybe" for under 0.8% of unseen keys at full load, 0.3% at 80%', () => {
    const bloom = new BlockBloom(200_000);
    const seen = hashesOf('seen', 200_000);
    for (const [a, b] of seen) bloom.add(a, b);
    expect(bloom.full).toBe(true);
    expect(seen.every(([a, b]) => bloom.mayContain(a, b))).toBe(true);
    const unseen = hashesOf('unseen', 200_000);
    const rate = (b: BlockBloom) => unseen.filter(([x, y]) => b.mayContain(x, y)).length / unseen.length;
    // 12 bits a key in 256-bit blocks: 0.54% measured at full load, 0.17% at 80%; the bounds leave room for other keys.
    expect(rate(bloom)).toBeLessThan(0.008);
    expect(bloom.words.byteLength).toBe(200_000 * 1.5);
    const sized = new BlockBloom(250_000);
    for (const [a, b] of seen) sized.add(a, b);
    expect(rate(sized)).toBeLessThan(0.003);
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
    expect(filter.keys).toBeGreaterThan(keys.length * 0.99);
    expect(keys.every(([a, b]) => filter.mayContain(a, b))).toBe(true);
    const unseen = hashesOf('u', 100_000);
    expect(unseen.filter(([a, b]) => filter.mayContain(a, b)).length / unseen.length).toBeLessThan(0.012);
  });

  it('sizes a rebuilt filter for the keys it will hold', () => {
    expect(KeyFilter.sizedFor(10).filters[0]!.capacity).toBe(MIN_CAPACITY);
    expect(KeyFilter.sizedFor(1_000_000).filters[0]!.capacity).toBe(1_250_000);
  });
});
