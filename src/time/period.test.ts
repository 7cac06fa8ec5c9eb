import { describe, expect, it } from 'vitest';
import { canonicalTimeZone, dayStartOf, isValidTimeZone, periodBounds, periodOf } from './period.js';

const at = (iso: string) => Date.parse(iso);
const bounds = (period: string, zone?: string) => {
  const b = periodBounds(period, zone);
  return { start: b.start.toISOString(), end: b.end.toISOString() };
};

describe('periodOf', () => {
  it('splits UTC months at midnight UTC, to the millisecond', () => {
    expect(periodOf(at('2026-01-31T23:59:59.999Z'))).toBe('2026-01');
    expect(periodOf(at('2026-02-01T00:00:00.000Z'))).toBe('2026-02');
    expect(periodOf(at('2026-12-31T23:59:59.999Z'), 'UTC')).toBe('2026-12');
    expect(periodOf(at('2027-01-01T00:00:00.000Z'), 'UTC')).toBe('2027-01');
  });

  it('follows the tenant zone around a month end (America/New_York)', () => {
    // 2026-03-01T04:59:59Z is 2026-02-28 23:59:59 EST.
    expect(periodOf(at('2026-03-01T04:59:59Z'), 'America/New_York')).toBe('2026-02');
    expect(periodOf(at('2026-03-01T04:59:59.999Z'), 'America/New_York')).toBe('2026-02');
    expect(periodOf(at('2026-03-01T05:00:00Z'), 'America/New_York')).toBe('2026-03');
    // The same instants in UTC are already March.
    expect(periodOf(at('2026-03-01T04:59:59Z'))).toBe('2026-03');
  });

  it('uses the summer offset at a month end inside DST (Europe/Berlin, CEST)', () => {
    expect(periodOf(at('2026-03-31T21:59:59.999Z'), 'Europe/Berlin')).toBe('2026-03');
    expect(periodOf(at('2026-03-31T22:00:00Z'), 'Europe/Berlin')).toBe('2026-04');
    expect(periodOf(at('2026-03-31T22:30:00Z'), 'Europe/Berlin')).toBe('2026-04');
  });

  it('handles quarter-hour offsets (Asia/Kathmandu +05:45, Pacific/Chatham +13:45)', () => {
    expect(periodOf(at('2026-03-31T18:14:59.999Z'), 'Asia/Kathmandu')).toBe('2026-03');
    expect(periodOf(at('2026-03-31T18:15:00Z'), 'Asia/Kathmandu')).toBe('2026-04');
    // Chatham in January is on daylight time, +13:45: 2026-02-01 00:00 local = 2026-01-31T10:15Z.
    expect(periodOf(at('2026-01-31T10:14:59.999Z'), 'Pacific/Chatham')).toBe('2026-01');
    expect(periodOf(at('2026-01-31T10:15:00Z'), 'Pacific/Chatham')).toBe('2026-02');
    // Far ahead of UTC: the local new year starts on 31 December UTC.
    expect(periodOf(at('2025-12-31T10:15:00Z'), 'Pacific/Chatham')).toBe('2026-01');
  });

  it('gives the same answer when asked again (cached) and for each instant of a cached bucket', () => {
    const zone = 'Asia/Kathmandu';
    const boundary = at('2026-05-31T18:15:00Z');
    for (let i = 0; i < 2; i++) {
      expect(periodOf(boundary - 1, zone)).toBe('2026-05');
      expect(periodOf(boundary - 15 * 60_000, zone)).toBe('2026-05');
      expect(periodOf(boundary, zone)).toBe('2026-06');
      expect(periodOf(boundary + 15 * 60_000 - 1, zone)).toBe('2026-06');
    }
  });
});

describe('periodBounds', () => {
  it('is the calendar month in UTC by default', () => {
    expect(bounds('2026-01')).toEqual({ start: '2026-01-01T00:00:00.000Z', end: '2026-02-01T00:00:00.000Z' });
    expect(bounds('2026-02', 'UTC')).toEqual({ start: '2026-02-01T00:00:00.000Z', end: '2026-03-01T00:00:00.000Z' });
    expect(bounds('2026-12')).toEqual({ start: '2026-12-01T00:00:00.000Z', end: '2027-01-01T00:00:00.000Z' });
    expect(bounds('2028-02')).toEqual({ start: '2028-02-01T00:00:00.000Z', end: '2028-03-01T00:00:00.000Z' });
  });

  it('spans a spring-forward month (Europe/Berlin, March 2026: CET start, CEST end)', () => {
    expect(bounds('2026-03', 'Europe/Berlin')).toEqual({ start: '2026-02-28T23:00:00.000Z', end: '2026-03-31T22:00:00.000Z' });
    const b = periodBounds('2026-03', 'Europe/Berlin');
    // One hour shorter than 31 days.
    expect(b.end.getTime() - b.start.getTime()).toBe(31 * 86_400_000 - 3600_000);
  });

  it('spans a fall-back month (America/New_York, November 2026: EDT start, EST end)', () => {
    expect(bounds('2026-11', 'America/New_York')).toEqual({ start: '2026-11-01T04:00:00.000Z', end: '2026-12-01T05:00:00.000Z' });
    const b = periodBounds('2026-11', 'America/New_York');
    expect(b.end.getTime() - b.start.getTime()).toBe(30 * 86_400_000 + 3600_000);
  });

  it('handles quarter-hour offsets', () => {
    expect(bounds('2026-03', 'Asia/Kathmandu')).toEqual({ start: '2026-02-28T18:15:00.000Z', end: '2026-03-31T18:15:00.000Z' });
    // Chatham: January on +13:45; April starts on +13:45 and ends on +12:45 (DST ends 2026-04-05).
    expect(bounds('2026-01', 'Pacific/Chatham')).toEqual({ start: '2025-12-31T10:15:00.000Z', end: '2026-01-31T10:15:00.000Z' });
    expect(bounds('2026-04', 'Pacific/Chatham')).toEqual({ start: '2026-03-31T10:15:00.000Z', end: '2026-04-30T11:15:00.000Z' });
  });

  it('starts at the first local instant of the 1st when midnight is skipped (America/Asuncion, 2017-10-01 00:00 -> 01:00)', () => {
    expect(bounds('2017-10', 'America/Asuncion').start).toBe('2017-10-01T04:00:00.000Z');
    expect(bounds('2017-09', 'America/Asuncion').end).toBe('2017-10-01T04:00:00.000Z');
    expect(periodOf(at('2017-10-01T03:59:59.999Z'), 'America/Asuncion')).toBe('2017-09');
    expect(periodOf(at('2017-10-01T04:00:00Z'), 'America/Asuncion')).toBe('2017-10');
  });

  it('agrees with periodOf at both ends for every month of a year in several zones', () => {
    for (const zone of ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kathmandu', 'Pacific/Chatham', 'Australia/Lord_Howe']) {
      for (let month = 1; month <= 12; month++) {
        const name = `2026-${String(month).padStart(2, '0')}`;
        const b = periodBounds(name, zone);
        expect(periodOf(b.start.getTime(), zone), `${zone} ${name} start`).toBe(name);
        expect(periodOf(b.end.getTime() - 1, zone), `${zone} ${name} end`).toBe(name);
        expect(periodOf(b.start.getTime() - 1, zone), `${zone} ${name} before`).not.toBe(name);
        expect(periodOf(b.end.getTime(), zone), `${zone} ${name} after`).not.toBe(name);
      }
    }
  });

  it('refuses a malformed period', () => {
    for (const bad of ['2026-13', '2026-00', '2026-1', '26-01', '2026-01-01', '']) {
      expect(() => periodBounds(bad), bad).toThrow(RangeError);
    }
  });
});

describe('isValidTimeZone', () => {
  it('accepts IANA zones and refuses anything else', () => {
    expect(isValidTimeZone('Europe/Berlin')).toBe(true);
    expect(isValidTimeZone('UTC')).toBe(true);
    expect(isValidTimeZone('Mars/Olympus_Mons')).toBe(false);
    expect(isValidTimeZone('')).toBe(false);
  });
});

describe('canonicalTimeZone', () => {
  it('fixes the case of a zone name (ClickHouse names are case-sensitive) and keeps correctly spelled names', () => {
    expect(canonicalTimeZone('europe/berlin')).toBe('Europe/Berlin');
    expect(canonicalTimeZone('EUROPE/BERLIN')).toBe('Europe/Berlin');
    expect(canonicalTimeZone('utc')).toBe('UTC');
    expect(canonicalTimeZone('us/eastern')).toBe('America/New_York');
    expect(canonicalTimeZone('Europe/Berlin')).toBe('Europe/Berlin');
    expect(canonicalTimeZone('UTC')).toBe('UTC');
    expect(canonicalTimeZone('Pacific/Chatham')).toBe('Pacific/Chatham');
    // A correctly spelled alias stays as the operator wrote it.
    expect(canonicalTimeZone('Asia/Kolkata')).toBe('Asia/Kolkata');
    expect(canonicalTimeZone('US/Eastern')).toBe('US/Eastern');
  });
});

describe('dayStartOf', () => {
  const start = (iso: string, zone?: string) => new Date(dayStartOf(at(iso), zone)).toISOString();
  it('is local midnight as a UTC instant, across DST changes and odd offsets', () => {
    expect(start('2026-03-08T23:59:59.999Z')).toBe('2026-03-08T00:00:00.000Z');
    // Berlin: 29 March 2026 lasts 23 hours (CET -> CEST at 02:00 local).
    expect(start('2026-03-29T21:59:59Z', 'Europe/Berlin')).toBe('2026-03-28T23:00:00.000Z');
    expect(start('2026-03-29T22:00:00Z', 'Europe/Berlin')).toBe('2026-03-29T22:00:00.000Z');
    expect(start('2026-03-09T04:30:00Z', 'America/New_York')).toBe('2026-03-09T04:00:00.000Z');
    expect(start('2026-03-08T18:29:59Z', 'Asia/Kolkata')).toBe('2026-03-07T18:30:00.000Z');
    expect(start('2026-03-08T18:30:00Z', 'Asia/Kolkata')).toBe('2026-03-08T18:30:00.000Z');
    expect(start('2026-03-08T18:15:00Z', 'Asia/Kathmandu')).toBe('2026-03-08T18:15:00.000Z');
    expect(start('2026-03-08T18:14:59Z', 'Asia/Kathmandu')).toBe('2026-03-07T18:15:00.000Z');
  });
});

