// Decimal(38, 6) values travel as text; sums in TypeScript go through scaled BigInts so nothing is rounded.
const scale = 6;
const factor = 10n ** BigInt(scale);

export function toScaled(text: string): bigint {
  const negative = text.startsWith('-');
  const [int = '0', frac = ''] = (negative ? text.slice(1) : text).split('.');
  const v = BigInt(int) * factor + BigInt((frac + '000000').slice(0, scale));
  return negative ? -v : v;
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
