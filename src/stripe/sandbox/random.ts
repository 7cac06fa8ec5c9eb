import { createHash, randomBytes } from 'node:crypto';

const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function base62(bytes: Uint8Array, length: number): string {
  let out = '';
  // 248 = 4 * 62: rejecting bytes above it keeps the characters uniform.
  for (const b of bytes) {
    if (b >= 248) continue;
    out += alphabet[b % 62];
    if (out.length === length) break;
  }
  return out;
}

/** Stripe-looking ids (`cus_…`, `mtr_…`) from the OS RNG, so ids stay unique across restarts whatever the fault seed. */
export function newId(prefix: string, length = 24): string {
  let out = '';
  while (out.length < length) out += base62(randomBytes(length * 2), length - out.length);
  return `${prefix}_${out}`;
}

/** A stable id derived from its parts: the same summary window gets the same id on every call, so pagination works. */
export function stableId(prefix: string, ...parts: Array<string | number>): string {
  const digest = createHash('sha512').update(parts.join('\u0000')).digest();
  return `${prefix}_${base62(digest, 24)}`;
}

/** mulberry32: small, fast and seedable, so fault injection replays the same way for the same seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
