// Decimal(38, 6) values travel as text; sums in TypeScript go through scaled BigInts so nothing is rounded.
const scale = 6;
const factor = 10n ** BigInt(scale);

export function toScaled(text: string): bigint {
  const dot = text.indexOf('.');
  if (dot < 0) return BigInt(text) * factor;
  // One BigInt parse of the digits with the point moved (sign included): "-1.5" -> -1500000.
  const frac = text.slice(dot + 1, dot + 1 + scale);
  return BigInt(text.slice(0, dot) + frac + '0'.repeat(scale - frac.length));
}

export function fromScaled(v: bigint): string {
  const negative = v < 0n;
  const abs = negative ? -v : v;
  const int = abs / factor;
  const frac = (abs % factor).toString().padStart(scale, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${int}${frac ? `.${frac}` : ''}`;
}

export function sumDecimals(values: string[]): string {
  return fromScaled(values.reduce((acc, v) => acc + toScaled(v), 0n));
}
