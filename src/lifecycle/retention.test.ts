import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../config.js';
import { horizonOf, monthOf, planTable } from './retention.js';

const at = (iso: string) => Date.parse(iso);

describe('planTable', () => {
  it('drops the months wholly before the cutoff and deletes only in the month it falls in', () => {
    const plan = planTable(
      at('2026-11-10T12:00:00Z'),
      [
        { month: '202609', rows: 5 },
        { month: '202610', rows: 7 },
        { month: '202611', rows: 3 },
      ],
      ['202609', '202610', '202611', '202612'],
    );
    expect(plan).toEqual({ drop: [{ id: '202609', rows: 5 }, { id: '202610', rows: 7 }], deleteRows: 3 });
  });

  it('drops a month whose last instant is just before a cutoff at the start of the next, and deletes nothing then', () => {
    expect(planTable(at('2026-11-01T00:00:00Z'), [{ month: '202610', rows: 2 }], ['202610', '202611'])).toEqual({
      drop: [{ id: '202610', rows: 2 }],
      deleteRows: 0,
    });
    expect(planTable(at('2026-10-31T23:59:59.999Z'), [{ month: '202610', rows: 2 }], ['202610'])).toEqual({ drop: [], deleteRows: 2 });
  });

  it('also drops old partitions held here whose rows are all deleted, and months only other shards hold', () => {
    expect(planTable(at('2026-11-10T00:00:00Z'), [{ month: '202608', rows: 4 }], ['202607', '202611', 'all'])).toEqual({
      drop: [{ id: '202607', rows: 0 }, { id: '202608', rows: 4 }],
      deleteRows: 0,
    });
  });

  it('has nothing to do when no row is older than the cutoff', () => {
    expect(planTable(at('2026-11-10T00:00:00Z'), [], ['202611', '202612'])).toEqual({ drop: [], deleteRows: 0 });
  });
});

describe('monthOf and horizonOf', () => {
  it('names partitions as toYYYYMM does, in UTC', () => {
    expect(monthOf(at('2026-01-31T23:59:59.999Z'))).toBe('202601');
    expect(monthOf(at('2026-02-01T00:00:00Z'))).toBe('202602');
    expect(monthOf(at('2026-12-31T23:30:00-02:00'))).toBe('202701');
  });

  it('is the later of the recorded cutoff and now - retention; null when nothing was or is due to be dropped', () => {
    const now = at('2026-11-10T00:00:00Z');
    const day = 86_400_000;
    expect(horizonOf(null, now, 400 * day)).toBe(now - 400 * day);
    expect(horizonOf(now - 500 * day, now, 400 * day)).toBe(now - 400 * day);
    // A retention lengthened (or turned off) after a run: what was dropped stays dropped.
    expect(horizonOf(now - 10 * day, now, 400 * day)).toBe(now - 10 * day);
    expect(horizonOf(now - 10 * day, now, null)).toBe(now - 10 * day);
    expect(horizonOf(null, now, null)).toBeNull();
  });
});

describe('RAW_EVENT_RETENTION and RETENTION_INTERVAL', () => {
  const day = 86_400_000;

  it('default to P400D (or EVENT_RETENTION when longer) and hourly runs', () => {
    expect(loadConfig({}).retention).toEqual({ rawEvents: 'P400D', rawEventsMs: 400 * day, intervalMs: 3600_000 });
    expect(loadConfig({ EVENT_RETENTION: 'P3650D' }).retention).toEqual({ rawEvents: 'P3650D', rawEventsMs: 3650 * day, intervalMs: 3600_000 });
    expect(loadConfig({ RAW_EVENT_RETENTION: 'off' }).retention.rawEventsMs).toBeNull();
    expect(loadConfig({ RAW_EVENT_RETENTION: 'PT2S', EVENT_RETENTION: 'PT2S', RETENTION_INTERVAL: 'PT6H' }).retention).toEqual({
      rawEvents: 'PT2S',
      rawEventsMs: 2000,
      intervalMs: 6 * 3600_000,
    });
  });

  it('refuse a raw retention shorter than EVENT_RETENTION, naming both', () => {
    expect(() => loadConfig({ RAW_EVENT_RETENTION: 'P30D' })).toThrow(ConfigError);
    expect(() => loadConfig({ RAW_EVENT_RETENTION: 'P30D' })).toThrow(/RAW_EVENT_RETENTION: P30D is shorter than EVENT_RETENTION \(P90D\)/);
    expect(() => loadConfig({ RAW_EVENT_RETENTION: 'P90D', EVENT_RETENTION: 'P91D' })).toThrow(/EVENT_RETENTION \(P91D\)/);
  });

  it('refuse what is neither a duration nor off, and an interval cron cannot keep', () => {
    expect(() => loadConfig({ RAW_EVENT_RETENTION: 'forever' })).toThrow(/RAW_EVENT_RETENTION: must be an ISO 8601 duration such as P400D, or off/);
    expect(() => loadConfig({ RETENTION_INTERVAL: 'PT7M' })).toThrow(/RETENTION_INTERVAL: must divide a minute, an hour or a day/);
  });
});
