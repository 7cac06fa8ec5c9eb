import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../log.js';
import { MIN_CAPACITY } from './key-filter.js';
import { KeyIndex } from './key-index.js';
import { openTestStorage, type TestStorage } from '../../../test/support/storage.js';

// A tenant whose filter chain grew long is rebuilt into one filter from event_keys, in the background, without
// losing a key: neither one stored before the rebuild nor one accepted while it ran.
let storage: TestStorage;
beforeAll(async () => {
  storage = await openTestStorage('keyrebuild');
});
afterAll(async () => {
  await storage?.destroy();
});

const stored = MIN_CAPACITY + 5000;
const keyOf = (i: number) => `key-${i}`;

describe('rebuilding a long filter chain', () => {
  it('waits for the writer, reads every stored key, and keeps the keys added meanwhile', async () => {
    let release!: () => void;
    const writerBusy = new Promise<void>((r) => (release = r));
    const index = new KeyIndex(storage.keys, { file: path.join(storage.dir, 'kf.bin'), recentKeys: 0, settled: () => writerBusy, maxChain: 2 }, createLogger('silent'));
    await index.load();
    expect(index.stats()).toMatchObject({ keys: 0 });
    // The keys as the writer would have stored them: through events and its view into event_keys.
    await storage.jobs.command({
      query: `INSERT INTO events (tenant_id, idempotency_key, metric, customer_ref, quantity, ts, period, payload_hash)
        SELECT 'rb', concat('key-', toString(number)), 'm', 'c', 1, now64(3), '2026-11', 'aaaaaaaaaaaaaaaa' FROM numbers({n:UInt64})`,
      query_params: { n: stored },
    });
    // The writer accepts the same keys one by one: the second filter of the chain starts a rebuild.
    for (let i = 0; i < stored; i++) index.add('rb', keyOf(i));
    // Accepted while the rebuild waits for the writer's groups in flight: never stored in event_keys here.
    for (let i = 0; i < 1000; i++) index.add('rb', `late-${i}`);
    expect(index.stats().rebuilds).toBe(0);
    release();
    await index.idle();
    expect(index.stats().rebuilds).toBe(1);
    const misses = [];
    for (let i = 0; i < stored; i++) if (!index.mayContain('rb', keyOf(i))) misses.push(i);
    for (let i = 0; i < 1000; i++) if (!index.mayContain('rb', `late-${i}`)) misses.push(`late-${i}`);
    expect(misses).toEqual([]);
    // One filter sized for the stored keys (1.25x), instead of a chain of two.
    expect(index.stats().filterBytes).toBe(Math.ceil((Math.ceil(stored * 1.25) * 12) / 256) * 32);
    let falsePositives = 0;
    for (let i = 0; i < 100_000; i++) if (index.mayContain('rb', `never-${i}`)) falsePositives++;
    expect(falsePositives).toBeLessThan(300);
  });

  it('after a failed rebuild, waits before the next instead of starting one per key added', async () => {
    let attempts = 0;
    const failing = async () => {
      attempts++;
      throw new Error('storage unavailable');
    };
    const index = new KeyIndex(storage.keys, { file: path.join(storage.dir, 'kf2.bin'), recentKeys: 0, settled: failing, maxChain: 2 }, createLogger('silent'));
    for (let i = 0; i < MIN_CAPACITY + 1; i++) index.add('rf', `k-${i}`);
    await index.idle();
    for (let i = 0; i < 5000; i++) index.add('rf', `more-${i}`);
    await index.idle();
    expect(attempts).toBe(1);
    expect(index.stats().rebuilds).toBe(0);
    // The chain still answers for every key.
    expect(index.mayContain('rf', 'k-0') && index.mayContain('rf', 'more-4999')).toBe(true);
  });
});
