import { describe, expect, it } from 'vitest';
import { fromScaled, sumDecimals, toScaled } from './decimal.js';

describe('scaled decimals', () => {
  it('parse Decimal(38, 6) text exactly, with either sign and any number of fractional digits', () => {
    expect(toScaled('0')).toBe(0n);
    expect(toScaled('12')).toBe(12_000_000n);
    expect(toScaled('-12')).toBe(-12_000_000n);
    expect(toScaled('1.5')).toBe(1_500_000n);
    expect(toScaled('-0.5')).toBe(-500_000n);
    expect(toScaled('0.000001')).toBe(1n);
    expect(toScaled('-0.000001')).toBe(-1n);
    expect(toScaled('99999999999999999999999999999999.999999')).toBe(99999999999999999999999999999999999999n);
    // ClickHouse never prints more than 6 fractional digits; more are cut, not rounded.
    expect(toScaled('1.2345678')).toBe(1_234_567n);
  });

  it('print without trailing zeros and round-trip', () => {
    for (const v of ['0', '1', '-1', '1.5', '-0.5', '0.000001', '123456789012345678901234567890.123456']) expect(fromScaled(toScaled(v))).toBe(v);
    expect(fromScaled(1_500_000n)).toBe('1.5');
  });

  it('sum without rounding (0.1 + 0.2 is 0.3)', () => {
    expect(sumDecimals(['0.1', '0.2'])).toBe('0.3');
    expect(sumDecimals(['-1.25', '1', '0.25'])).toBe('0');
  });

  it('refuse what is not a number', () => {
    expect(() => toScaled('abc')).toThrow();
    expect(() => toScaled('1.x')).toThrow();
  });
});
