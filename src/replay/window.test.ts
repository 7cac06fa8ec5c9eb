import { describe, expect, it } from 'vitest';
import { chunks, resolveWindow } from './window.js';

const hour = 3600_000;
const day = 24 * hour;
const now = Date.parse('2026-03-10T12:34:56Z');

describe('resolveWindow', () => {
  it('takes a duration back from now, widened to whole hours on both sides', () => {
    const w = resolveWindow('-PT24H', 'now', now);
    expect('error' in w).toBe(false);
    if ('error' in w) return;
    expect(w.requested).toEqual({ since: '2026-03-09T12:34:56.000Z', until: '2026-03-10T12:34:56.000Z' });
    expect(w.effective).toEqual({ since: '2026-03-09T12:00:00.000Z', until: '2026-03-10T13:00:00.000Z' });
    expect(w.widenedMs).toEqual({ since: (34 * 60 + 56) * 1000, until: (25 * 60 + 4) * 1000 });
    expect(w.endMs - w.startMs).toBe(25 * hour);
  });

  it('takes timestamps with a zone; whole hours stay as they are', () => {
    const w = resolveWindow('2026-03-01T00:00:00Z', '2026-03-02T00:00:00+00:00', now);
    expect(w).toMatchObject({ startMs: Date.parse('2026-03-01T00:00:00Z'), endMs: Date.parse('2026-03-02T00:00:00Z'), widenedMs: { since: 0, until: 0 } });
  });

  it('names the field of each bad input', () => {
    expect(resolveWindow('-PT', 'now', now)).toMatchObject({ field: 'since' });
    expect(resolveWindow('yesterday', 'now', now)).toMatchObject({ field: 'since' });
    expect(resolveWindow('2026-03-01T00:00:00', 'now', now)).toMatchObject({ field: 'since' });
    expect(resolveWindow('-PT1H', 'later', now)).toMatchObject({ field: 'until' });
    expect(resolveWindow('2026-03-02T00:00:00Z', '2026-03-01T00:00:00Z', now)).toMatchObject({ field: 'since', error: 'since must be before until' });
    expect(resolveWindow('-PT1H', '9999-01-01T00:00:00Z', now)).toMatchObject({ field: 'until' });
  });
});

describe('chunks', () => {
  it('cuts a window into consecutive chunks that cover it exactly', () => {
    expect(chunks(0, 3 * day, day)).toEqual([
      [0, day],
      [day, 2 * day],
      [2 * day, 3 * day],
    ]);
    expect(chunks(0, hour, day)).toEqual([[0, hour]]);
    expect(chunks(5, 5, day)).toEqual([]);
  });

  it('joins a tail shorter than a quarter chunk to the chunk before it, and keeps a longer one', () => {
    expect(chunks(0, 25 * hour, day)).toEqual([[0, 25 * hour]]);
    expect(chunks(0, day + 6 * hour, day)).toEqual([
      [0, day],
      [day, day + 6 * hour],
    ]);
  });
});
