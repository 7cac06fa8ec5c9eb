import { describe, expect, it } from 'vitest';
import { summarise } from './replay.js';

type Diffed = Parameters<typeof summarise>[0][number];
const diffed = (over: Partial<Diffed>): Diffed => ({
  metric: 'calls',
  customerRef: 'a',
  period: '2026-03',
  before: '10',
  after: '10',
  delta: '0',
  eventsDelta: 0,
  eventsScanned: 0,
  lateEvents: 0,
  lateQuantity: '0',
  duplicateEvents: 0,
  stripeDelta: 0,
  corrections: 0,
  ...over,
});

describe('summarise', () => {
  it('joins an item found in several chunks: the first before, the deltas added, after and the Stripe delta derived', () => {
    const r = summarise(
      [
        diffed({ before: '10.5', after: '10.75', delta: '0.25', eventsDelta: 1, eventsScanned: 4, lateEvents: 1, lateQuantity: '0.25', corrections: 1 }),
        diffed({ before: '10.75', after: '11.25', delta: '0.5', eventsDelta: 2, eventsScanned: 6, duplicateEvents: 1, lateQuantity: '0.000001' }),
      ],
      [],
      2,
    );
    expect(r.items).toEqual([
      {
        metric: 'calls',
        customerRef: 'a',
        period: '2026-03',
        before: '10.5',
        after: '11.25',
        delta: '0.75',
        eventsDelta: 3,
        eventsScanned: 10,
        lateEvents: 1,
        lateQuantity: '0.250001',
        duplicateEvents: 1,
        stripeDelta: 1,
      },
    ]);
    expect(r.correctionsWritten).toBe(2);
  });

  it('sums the run: changed items, their exact delta, and whole units for Stripe (floored, also below zero)', () => {
    const r = summarise(
      [
        diffed({ customerRef: 'a', before: '1.2', after: '0.9', delta: '-0.3', stripeDelta: -1, eventsScanned: 3 }),
        diffed({ customerRef: 'b', before: '5', after: '5', eventsScanned: 7 }),
        diffed({ customerRef: 'c', before: '0.1', after: '0.2', delta: '0.1', stripeDelta: 0, eventsDelta: 1, duplicateEvents: 2 }),
      ],
      [],
      0,
    );
    expect(r.summary).toEqual({ items: 3, changed: 2, eventsScanned: 10, lateEvents: 0, duplicateEvents: 2, delta: '-0.2', stripeDelta: -1 });
    expect(r.items.map((i) => i.customerRef)).toEqual(['a', 'b', 'c']);
  });
});
