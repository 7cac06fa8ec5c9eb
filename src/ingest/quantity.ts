/** Quantities are exact decimals with at most 6 fractional and 32 integer digits (ClickHouse Decimal(38, 6)). */
export const maxFractionDigits = 6;
const maxIntegerDigits = 32;
const decimalText = /^(\d+)(?:\.(\d+))?$/;

export type QuantityResult = { ok: true; value: string } | { ok: false; message: string };

/** Canonical text of a quantity: no leading zeros, no trailing fractional zeros (`"007.50"` -> `"7.5"`). */
export function parseQuantity(input: unknown): QuantityResult {
  let text: string;
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) return { ok: false, message: 'must be a finite number' };
    if (input < 0) return { ok: false, message: 'must be >= 0' };
    text = input.toString();
    if (text.includes('e')) {
      if (input < 1) return { ok: false, message: `has more than ${maxFractionDigits} decimal places; send a decimal string` };
      // Expand the shortest round-trip digits (`1e+23` -> 1 and 23 zeros), as for every other number; BigInt(input)
      // would give the binary value instead (99999999999999991611392). Exponents here are >= 21, mantissas <= 17 digits.
      const [mantissa = '', exponent = '0'] = text.split('e+');
      const [int = '', frac = ''] = mantissa.split('.');
      text = int + frac.padEnd(Number(exponent), '0');
    }
  } else if (typeof input === 'string') {
    text = input.trim();
    if (text.startsWith('-')) return { ok: false, message: 'must be >= 0' };
  } else {
    return { ok: false, message: 'must be a number or a decimal string' };
  }
  const m = decimalText.exec(text);
  if (!m) return { ok: false, message: 'must be a plain decimal such as "12" or "0.125"' };
  const integer = m[1]!.replace(/^0+(?=\d)/, '');
  const fraction = (m[2] ?? '').replace(/0+$/, '');
  if (fraction.length > maxFractionDigits) {
    return { ok: false, message: `has more than ${maxFractionDigits} decimal places` };
  }
  if (integer.length > maxIntegerDigits) return { ok: false, message: `has more than ${maxIntegerDigits} integer digits` };
  return { ok: true, value: fraction ? `${integer}.${fraction}` : integer };
}
