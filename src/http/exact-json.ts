import { randomBytes } from 'node:crypto';

/**
 * A JSON number whose value does not survive parsing into a double (`9007199254740993`, `1.00000000000000001`,
 * `1e400`): it stands in the parsed body where the number was, so validation refuses it instead of using a
 * rounded value. Strings keep every digit, so the client is told to send one.
 */
export class InexactNumber {
  constructor(readonly source: string) {}
}

// A number token of 16 or more digit/point characters, or with an exponent, right after `:` `,` or `[`. Tokens of
// at most 15 significant digits and no exponent always survive a double; anything this finds (inside a string too)
// is only checked exactly below, so a false alarm costs time, never a wrong answer.
const suspect = /[:,[][ \t\r\n]*-?(?:[\d.]{16,}|[\d.]+[eE])/;

/**
 * JSON.parse, except that numbers a double cannot hold exactly become InexactNumber. Node 20's reviver has no
 * access to the source text, so the text is scanned first (one regex test over the body in the common case).
 */
export function parseExactJson(text: string): { value: unknown; inexact: boolean } {
  if (!suspect.test(text)) return { value: JSON.parse(text), inexact: false };
  const tokens = inexactTokens(text);
  if (tokens.length === 0) return { value: JSON.parse(text), inexact: false };
  // Each inexact token becomes a string marker no client can guess, turned back into an InexactNumber by the reviver.
  const nonce = randomBytes(12).toString('hex');
  let rewritten = '';
  let last = 0;
  tokens.forEach(([start, end], i) => {
    rewritten += `${text.slice(last, start)}"${nonce}:${i}"`;
    last = end;
  });
  rewritten += text.slice(last);
  const prefix = `${nonce}:`;
  const value = JSON.parse(rewritten, (_key, v: unknown) =>
    typeof v === 'string' && v.startsWith(prefix) ? new InexactNumber(text.slice(...tokens[Number(v.slice(prefix.length))]!)) : v,
  );
  return { value, inexact: true };
}

/** [start, end) of every number token outside strings whose value a double does not hold exactly. */
function inexactTokens(text: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip a string: its closing quote is the first one after an even run of backslashes. An unterminated
      // string ends the scan; JSON.parse refuses it.
      let close = text.indexOf('"', i + 1);
      while (close > 0) {
        let backslashes = 0;
        while (text.charCodeAt(close - 1 - backslashes) === 0x5c) backslashes++;
        if (backslashes % 2 === 0) break;
        close = text.indexOf('"', close + 1);
      }
      if (close < 0) break;
      i = close + 1;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      const start = i;
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if ((d >= 0x30 && d <= 0x39) || d === 0x2e || d === 0x65 || d === 0x45 || d === 0x2b || d === 0x2d) i++;
        else break;
      }
      // At most 15 characters without an exponent: at most 15 digits, which a double always holds.
      if (i - start <= 15 && !/[eE]/.test(text.slice(start, i))) continue;
      if (!survivesDouble(text.slice(start, i))) out.push([start, i]);
    } else {
      i++;
    }
  }
  return out;
}

const numberToken = /^-?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/**
 * Whether the token's decimal value equals that of the double's shortest round-trip form, the digits every later
 * step (quantities included) works from. Malformed tokens count as exact: JSON.parse refuses them anyway.
 */
export function survivesDouble(token: string): boolean {
  const m = numberToken.exec(token);
  if (!m) return true;
  const parsed = Number(token);
  if (!Number.isFinite(parsed)) return false;
  return sameDecimal(decimalOf(m[1]!, m[2] ?? '', m[3] ?? '0'), decimalOfNumber(Math.abs(parsed)));
}

type Decimal = { digits: string; exponent: number };

/** Significant digits without leading or trailing zeros, and the power of ten of the last one. Zero is `''`. */
function decimalOf(integer: string, fraction: string, exponent: string): Decimal {
  let digits = (integer + fraction).replace(/^0+/, '');
  let exp = Number(exponent) - fraction.length;
  const trimmed = digits.replace(/0+$/, '');
  exp += digits.length - trimmed.length;
  digits = trimmed;
  return digits ? { digits, exponent: exp } : { digits: '', exponent: 0 };
}

function decimalOfNumber(value: number): Decimal {
  const m = numberToken.exec(String(value).replace('e+', 'e'))!;
  return decimalOf(m[1]!, m[2] ?? '', m[3] ?? '0');
}

const sameDecimal = (a: Decimal, b: Decimal) => a.digits === b.digits && a.exponent === b.exponent;

/**
 * The path (`quantity`, `meta.x`, `items[2]`) of the first InexactNumber in a parsed value, with it. Iterative:
 * a hostile body may nest deeper than the call stack.
 */
export function findInexact(value: unknown): { path: string; number: InexactNumber } | undefined {
  const stack: Array<[unknown, string]> = [[value, '']];
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (v instanceof InexactNumber) return { path, number: v };
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], `${path}[${i}]`]);
    } else if (typeof v === 'object' && v !== null) {
      const keys = Object.keys(v);
      for (let i = keys.length - 1; i >= 0; i--) stack.push([(v as Record<string, unknown>)[keys[i]!], path ? `${path}.${keys[i]}` : keys[i]!]);
    }
  }
  return undefined;
}

export const inexactMessage = (n: InexactNumber) =>
  `${n.source.length > 40 ? `${n.source.slice(0, 40)}...` : n.source} cannot be held exactly as a JSON number; send it as a string`;
