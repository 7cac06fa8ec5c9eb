import { describe, expect, it } from 'vitest';
import { parseQuantity } from './quantity.js';

const ok = (input: unknown) => {
  const r = parseQuantity(input);
  expect(r, JSON.stringify(input)).toMatchObject({ ok: true });
  return (r as { value: string }).value;
};
const refused = (input: unknown) => {
  const r = parseQuantity(input);
  expect(r, String(input)).toMatchObject({ ok: false });
  return (r as { message: string }).message;
};

describe('parseQuantity', () => {
  it('canonicalises numbers and decimal strings', () => {
    expect(ok(0)).toBe('0');
    expect(ok(-0)).toBe('0');
    expect(ok(1)).toBe('1');
    expect(ok(2.5)).toBe('2.5');
    expect(ok(0.1)).toBe('0.1');
    expect(ok(0.000001)).toBe('0.000001');
    expect(ok('007.50')).toBe('7.5');
    expect(ok('3.0')).toBe('3');
    expect(ok('00')).toBe('0');
    expect(ok('0.000000')).toBe('0');
    expect(ok('1.1234560')).toBe('1.123456');
    expect(ok('123456789012345.123456')).toBe('123456789012345.123456');
    // The same quantity spelled as a number or as text has one canonical form (it feeds the derived key).
    expect(ok('3')).toBe(ok(3));
    expect(ok('1.25')).toBe(ok(1.25));
  });

  it('accepts up to 999999999999999.999999 (below 10^15), and refuses from 10^15 on, as text or number', () => {
    // The largest accepted quantity and the smallest refused one (docs/totals.md: counters cannot wrap below it).
    expect(ok('999999999999999.999999')).toBe('999999999999999.999999');
    expect(ok(`000${'9'.repeat(15)}`)).toBe('9'.repeat(15));
    expect(ok(999999999999999)).toBe('999999999999999');
    expect(refused('1000000000000000')).toBe('must be below 1000000000000000 (at most 15 integer digits)');
    expect(refused('1000000000000000.0')).toMatch(/must be below 1000000000000000/);
    expect(refused(1e15)).toMatch(/must be below 1000000000000000/);
    // The report: 32 nines were accepted and two of them wrapped the counter negative.
    expect(refused('9'.repeat(32))).toMatch(/must be below 1000000000000000/);
    expect(refused(1e21)).toMatch(/must be below 1000000000000000/);
    expect(refused(1e300)).toMatch(/must be below 1000000000000000/);
    expect(refused('1.1234567')).toMatch(/more than 6 decimal places/);
    expect(refused(0.0000015)).toMatch(/more than 6 decimal places/);
  });

  it('refuses negative, non-finite and tiny numbers', () => {
    expect(refused(-1)).toMatch(/>= 0/);
    expect(refused(-0.5)).toMatch(/>= 0/);
    expect(refused('-1')).toMatch(/>= 0/);
    expect(refused('-0')).toMatch(/>= 0/);
    expect(refused(Number.NaN)).toMatch(/finite/);
    expect(refused(Number.POSITIVE_INFINITY)).toMatch(/finite/);
    expect(refused(Number.NEGATIVE_INFINITY)).toMatch(/finite/);
    expect(refused(1e-7)).toMatch(/decimal places; send a decimal string/);
  });

  it('refuses text that is not a plain decimal', () => {
    for (const text of ['', ' ', 'NaN', 'Infinity', '1e3', '1E3', '+1', '.5', '5.', '1,5', '1_000', '0x10', '1 000', 'abc', '١']) {
      expect(refused(text), JSON.stringify(text)).toMatch(/plain decimal/);
    }
  });

  it('refuses other types', () => {
    for (const input of [null, undefined, true, {}, [], 1n]) {
      expect(refused(input)).toMatch(/number or a decimal string/);
    }
  });

  it('trims surrounding whitespace of a decimal string', () => {
    expect(ok(' 1 ')).toBe('1');
    expect(ok('\t2.50\n')).toBe('2.5');
  });
});
