import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestStorage, type TestStorage } from '../../test/support/storage.js';
import type { EventRow } from './event.js';
import { Watermarks } from './watermarks.js';

/** The lateness judge on its own, against the embedded engine's `watermarks` table: no HTTP service. */
let storage: TestStorage;
beforeAll(async () => {
  storage = await openTestStorage('watermarks');
});
afterAll(async () => {
  await storage?.destroy();
});

const hour = 3_600_000;
const base = Date.parse('2026-03-10T12:00:00Z');
const row = (customerRef: string, atMs: number): EventRow => ({
  tenant_id: 'demo',
  idempotency_key: `${customerRef}-${atMs}`,
  metric: 'calls',
  customer_ref: customerRef,
  resource_id: '',
  quantity: '1',
  ts: new Date(atMs).toISOString().replace('T', ' ').replace('Z', ''),
  period: '2026-03',
  meta: {},
  source: '',
  payload_hash: '',
  beyond_window: 0,
});

describe('Watermarks', () => {
  it('judges each event against its counter: on time, late within the window, beyond it', async () => {
    const w = new Watermarks(storage.lookup, storage.jobs);
    const rows = [row('a', base), row('a', base - hour), row('a', base - 3 * hour), row('b', base - 3 * hour)];
    await w.load(rows);
    expect(rows.map((r) => w.observe(r, 2 * hour))).toEqual([undefined, 'late', 'beyond_window', undefined]);
  });

  it('forgets the moves of a group whose INSERT failed', async () => {
    const w = new Watermarks(storage.lookup, storage.jobs);
    await w.load([row('c', base)]);
    expect(w.observe(row('c', base), hour)).toBeUndefined();
    w.discard();
    // The failed group's event never counted: an older event is not late against it.
    expect(w.observe(row('c', base - 2 * hour), hour)).toBeUndefined();
  });

  it('stores the moves, and a new instance (a restart) judges against them; watermarks never move back', async () => {
    const first = new Watermarks(storage.lookup, storage.jobs);
    await first.load([row('d', base)]);
    first.observe(row('d', base), hour);
    await first.persist(true);
    first.observe(row('d', base - 30 * 60_000), hour);
    await first.persist(true);

    const restarted = new Watermarks(storage.lookup, storage.jobs);
    await restarted.load([row('d', base - 2 * hour)]);
    expect(restarted.observe(row('d', base - 2 * hour), hour)).toBe('beyond_window');
    expect(restarted.observe(row('d', base - 30 * 60_000), hour)).toBe('late');
  });
});
