/**
 * Two 32-bit hashes of an idempotency key's UTF-8 bytes, equal to the engine's `murmurHash3_32(key)` and
 * `xxHash32(key)`. Being the engine's own functions is what lets the key filter be rebuilt inside the engine's
 * scan (8 bytes a key come back, not the key), and a test holds the two sides equal.
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
const P1 = 2654435761;
const P2 = 2246822519;
const P3 = 3266489917;
const P4 = 668265263;
const P5 = 374761393;

const rotl = (x: number, r: number) => (x << r) | (x >>> (32 - r));

/** MurmurHash3 x86 32-bit, seed 0, over bytes[0, length). */
export function murmur3(bytes: Uint8Array, length: number): number {
  let h = 0;
  const blocks = length & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = Math.imul(rotl(Math.imul(k, C1), 15), C2);
    h = Math.imul(rotl(h ^ k, 13), 5) + 0xe6546b64;
  }
  const tail = length & 3;
  if (tail > 0) {
    let k = bytes[blocks]!;
    if (tail > 1) k |= bytes[blocks + 1]! << 8;
    if (tail > 2) k |= bytes[blocks + 2]! << 16;
    h ^= Math.imul(rotl(Math.imul(k, C1), 15), C2);
  }
  h ^= length;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const u32 = (b: Uint8Array, i: number) => (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
const round = (acc: number, input: number) => Math.imul(rotl((acc + Math.imul(input, P2)) | 0, 13), P1);

/** xxHash32, seed 0, over bytes[0, length). */
export function xxhash32(bytes: Uint8Array, length: number): number {
  let i = 0;
  let h: number;
  if (length >= 16) {
    let v1 = (P1 + P2) | 0;
    let v2 = P2 | 0;
    let v3 = 0;
    let v4 = -P1 | 0;
    for (; i + 16 <= length; i += 16) {
      v1 = round(v1, u32(bytes, i));
      v2 = round(v2, u32(bytes, i + 4));
      v3 = round(v3, u32(bytes, i + 8));
      v4 = round(v4, u32(bytes, i + 12));
    }
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) | 0;
  } else {
    h = P5 | 0;
  }
  h = (h + length) | 0;
  for (; i + 4 <= length; i += 4) h = Math.imul(rotl((h + Math.imul(u32(bytes, i), P3)) | 0, 17), P4);
  for (; i < length; i++) h = Math.imul(rotl((h + Math.imul(bytes[i]!, P5)) | 0, 11), P1);
  h = Math.imul(h ^ (h >>> 15), P2);
  h = Math.imul(h ^ (h >>> 13), P3);
  return (h ^ (h >>> 16)) >>> 0;
}

// One scratch buffer for every key: keys are at most 255 UTF-16 units, at most 765 UTF-8 bytes.
const scratch = new Uint8Array(1024);

/** The key's two hashes, [murmurHash3_32, xxHash32] of its UTF-8 bytes. */
export function keyHashes(key: string): [number, number] {
  let length = key.length;
  let ascii = length <= scratch.length;
  for (let i = 0; ascii && i < length; i++) {
    const c = key.charCodeAt(i);
    if (c < 0x80) scratch[i] = c;
    else ascii = false;
  }
  if (ascii) return [murmur3(scratch, length), xxhash32(scratch, length)];
  const bytes = Buffer.from(key, 'utf8');
  length = bytes.length;
  return [murmur3(bytes, length), xxhash32(bytes, length)];
}
