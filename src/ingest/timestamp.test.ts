import { describe, expect, it } from 'vitest';
import { parseTimestamp } from './timestamp.js';
import { toClickHouseTime } from '../storage/time.js';

const iso = (text: string) => {
  const ms = parseTimestamp(text);
  expect(ms, text).not.toBeNull();
  return new Date(ms!).toISOString();
};

describe('parseTimestamp', () => {
  it('reads UTC and offset timestamps to the same instant', () => {
    expect(iso('2026-03-01T00:00:00Z')).toBe('2026-03-01T00:00:00.000Z');
    expect(iso('2026-03-01T05:30:00+05:30')).toBe('2026-03-01T00:00:00.000Z');
    expect(iso('2026-02-28T18:30:00-05:30')).toBe('2026-03-01T00:00:00.000Z');
    expect(iso('2026-03-01T05:45:00+05:45')).toBe('2026-03-01T00:00:00.000Z');
    expect(iso('2026-03-01T00:00:00+00:00')).toBe('2026-03-01T00:00:00.000Z');
    expect(iso('2026-03-01T00:00:00-00:00')).toBe('2026-03-01T00:00:00.000Z');
    // Crossing a date and a year through the offset.
    expect(iso('2026-12-31T23:30:00-01:00')).toBe('2027-01-01T00:30:00.000Z');
    expect(iso('2026-03-01T10:00Z')).toBe('2026-03-01T10:00:00.000Z');
  });

  it('keeps milliseconds and truncates finer digits (never rounds)', () => {
    expect(iso('2026-03-01T00:00:00.1Z')).toBe('2026-03-01T00:00:00.100Z');
    expect(iso('2026-03-01T00:00:00.12Z')).toBe('2026-03-01T00:00:00.120Z');
    expect(iso('2026-03-01T00:00:00.123Z')).toBe('2026-03-01T00:00:00.123Z');
    expect(iso('2026-03-01T00:00:00.123999Z')).toBe('2026-03-01T00:00:00.123Z');
    expect(iso('2026-03-01T23:59:59.999999999Z')).toBe('2026-03-01T23:59:59.999Z');
  });

  it('refuses a timestamp without a zone', () => {
    expect(parseTimestamp('2026-03-01T00:00:00')).toBeNull();
    expect(parseTimestamp('2026-03-01T00:00:00.000')).toBeNull();
    expect(parseTimestamp('2026-03-01 00:00:00')).toBeNull();
    expect(parseTimestamp('2026-03-01')).toBeNull();
  });

  it('refuses dates and times that do not exist', () => {
    expect(parseTimestamp('2026-02-30T00:00:00Z')).toBeNull();
    expect(parseTimestamp('2026-02-29T00:00:00Z')).toBeNull();
    expect(parseTimestamp('2026-04-31T00:00:00Z')).toBeNull();
    expect(parseTimestamp('2026-13-01T00:00:00Z')).toBeNull();
    expect(parseTimestamp('2026-00-01T00:00:00Z')).toBeNull();
    expect(parseTimestamp('2026-01-00T00:00:00Z')).toBeNull();
    expect(parseTimestamp('2026-01-01T24:00:00Z')).toBeNull();
    expect(parseTimestamp('2026-01-01T23:60:00Z')).toBeNull();
    expect(parseTimestamp('2026-01-01T23:59:60Z')).toBeNull();
    expect(parseTimestamp('2026-01-01T00:00:00+24:00')).toBeNull();
    expect(parseTimestamp('2026-01-01T00:00:00+05:60')).toBeNull();
    expect(iso('2028-02-29T00:00:00Z')).toBe('2028-02-29T00:00:00.000Z');
    expect(parseTimestamp('2100-02-29T00:00:00Z')).toBeNull();
    expect(iso('2000-02-29T00:00:00Z')).toBe('2000-02-29T00:00:00.000Z');
  });

  it('refuses other spellings', () => {
    for (const text of ['', 'now', '1700000000000', '2026-03-01T00:00:00z', '2026-3-1T00:00:00Z', '2026-03-01T00:00:00+0530', '2026-03-01T00:00:00 Z', ' 2026-03-01T00:00:00Z']) {
      expect(parseTimestamp(text), text).toBeNull();
    }
  });

  it('reads years 0-99 as themselves, not as 1900-1999', () => {
    expect(parseTimestamp('0050-01-01T00:00:00Z')).toBe(Date.parse('0050-01-01T00:00:00Z'));
    // Year 0 is a leap year in the proleptic Gregorian calendar; 1900 is not.
    expect(parseTimestamp('0000-02-29T00:00:00Z')).toBe(Date.parse('0000-02-29T00:00:00Z'));
    expect(parseTimestamp('1900-02-29T00:00:00Z')).toBeNull();
  });

  it('agrees with Date.parse on valid input', () => {
    for (const text of ['2026-11-25T10:00:00Z', '2026-11-25T10:00:00.5+01:00', '1999-12-31T23:59:59.999-08:00', '2026-07-01T00:00:00+14:00']) {
      expect(parseTimestamp(text), text).toBe(Date.parse(text));
    }
  });
});

describe('toClickHouseTime', () => {
  it('writes UTC with milliseconds and a space', () => {
    expect(toClickHouseTime(Date.parse('2026-11-25T10:00:00.123Z'))).toBe('2026-11-25 10:00:00.123');
    expect(toClickHouseTime(Date.parse('2026-11-25T10:00:00Z'))).toBe('2026-11-25 10:00:00.000');
  });
});
