/**
 * Quantities are exact decimals with at most 6 fractional digits and below 10^15 (at most 15 integer digits). Counters
 * are Decimal(38, 6), which wraps silently past about 1.7 * 10^32 when the engine sums it; below 10^15 an event, a
 * counter row wraps only past 1.7 * 10^17 events (docs/totals.md). Adjustments' deltas share the bound.
 */
export const maxFractionDigits = 6;
const maxIntegerDigits = 15;
const decimalText = /^(\d+)(?:\.(\d+))?$/;
const tooLarge = `must be below 1${'0'.repeat(maxIntegerDigits)} (at most ${maxIntegerDigits} integer digits)`;

export type QuantityResult = { ok: true; value: string } | { ok: false; message: string };

/** Canonical text of a quantity: no leading zeros, no trailing fractional zeros (`"007.50"` -> `"7.5"`). */
export function parseQuantity(input: unknown): QuantityResult {
  let text: string;
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) return { ok: false, message: 'must be a finite number' };
    if (input < 0) return { ok: false, message: 'must be >= 0' };
    text = input.toString();
    // Exponent notation: below 1e-6 or from 1e21 on, both out of range.
    if (text.includes('e')) {
      return { ok: false, message: input < 1 ? `has more than ${maxFractionDigits} decimal places; send a decimal string` : tooLarge };
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
  if (integer.length > maxIntegerDigits) return { ok: false, message: tooLarge };
  return { ok: true, value: fraction ? `${integer}.${fraction}` : integer };
}
