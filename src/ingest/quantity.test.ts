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
    expect(ok('123456789012345678901234567890.123456')).toBe('123456789012345678901234567890.123456');
    // The same quantity spelled as a number or as text has one canonical form (it feeds the derived key).
    expect(ok('3')).toBe(ok(3));
    expect(ok('1.25')).toBe(ok(1.25));
  });

  it('writes numbers beyond 1e21 in full, from their shortest digits', () => {
    expect(ok(1e21)).toBe('1000000000000000000000');
    expect(ok(1e23)).toBe('100000000000000000000000');
    expect(ok(1.5e30)).toBe('1500000000000000000000000000000');
    expect(ok(9.99e31)).toBe('9'.repeat(3) + '0'.repeat(29));
    expect(refused(1e32)).toMatch(/32 integer digits/);
    // Below 1e21 numbers print in full already.
    expect(ok(12345678901234567890)).toBe('12345678901234567000');
  });

  it('accepts 32 integer digits and 6 decimals, and no more', () => {
    expect(ok('9'.repeat(32))).toBe('9'.repeat(32));
    expect(ok(`${'9'.repeat(32)}.999999`)).toBe(`${'9'.repeat(32)}.999999`);
    expect(ok(`000${'1'.repeat(32)}`)).toBe('1'.repeat(32));
    expect(refused('1'.repeat(33))).toMatch(/more than 32 integer digits/);
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
