/**
 * Deterministic, realistic usage events for the ingest benchmark. Event number `seq` always yields the same event
 * (so a later batch can resend an earlier event byte for byte as a true duplicate, and the raw-insert baseline can
 * rebuild exactly the rows the service received) without keeping millions of objects in memory.
 */
import { prng } from './seed.js';

export type BenchEvent = {
  tenantId: string;
  metric: string;
  customerRef: string;
  resourceId?: string;
  quantity: number | string;
  ts: string;
  idempotencyKey: string;
  meta?: Record<string, string>;
  source: string;
};

export type GeneratorOptions = { tenantId: string; customers: number; spreadMs: number; nowMs: number; seed: number };

const base62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const crockford = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const regions = ['us-east-1', 'us-west-2', 'eu-west-1', 'ap-southeast-2'];
const endpoints = ['/v1/search', '/v1/embed', '/v1/complete', '/v1/classify', '/v1/translate'];
const sources = ['sdk-node/2.3.1', 'sdk-python/1.9.0', 'sdk-go/0.14.2', 'backfill'];

/** A bijection on 32-bit integers (so distinct inputs stay distinct) that looks random. */
function scramble(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

function encode(value: number, length: number, alphabet: string): string {
  let out = '';
  let v = value;
  for (let i = 0; i < length; i++) {
    out = alphabet[v % alphabet.length]! + out;
    v = Math.floor(v / alphabet.length);
  }
  return out;
}

function randomChars(rnd: () => number, length: number, alphabet: string): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[Math.floor(rnd() * alphabet.length)]!;
  return out;
}

/** ULID-shaped: 10 chars of time, then 16 chars of which the first 7 encode the event number (unique by construction). */
function ulid(tsMs: number, seq: number, rnd: () => number): string {
  return encode(tsMs, 10, crockford) + encode(scramble(seq), 7, crockford) + randomChars(rnd, 9, crockford);
}

export class EventGenerator {
  private readonly customerRefs: string[];

  constructor(readonly opts: GeneratorOptions) {
    this.customerRefs = Array.from({ length: opts.customers }, (_, i) => `cus_${randomChars(prng(scramble(i ^ opts.seed)), 14, base62)}`);
  }

  /** Event number `seq` and its quantity in micro-units (Decimal(38, 6) scale), for exact expected sums. */
  event(seq: number): { event: BenchEvent; micros: bigint } {
    const rnd = prng(scramble(seq) ^ this.opts.seed);
    // Skewed popularity: a few customers send most of the traffic.
    const c = Math.floor(this.opts.customers * rnd() * rnd());
    const customerRef = this.customerRefs[c]!;
    const tsMs = this.opts.nowMs - Math.floor(rnd() * this.opts.spreadMs);
    const ts = new Date(tsMs).toISOString();
    const idempotencyKey = `${customerRef}-${ulid(tsMs, seq, rnd)}`;
    const source = sources[Math.floor(rnd() * rnd() * sources.length)]!;
    const kind = rnd();
    let event: BenchEvent;
    let micros: bigint;
    if (kind < 0.5) {
      const n = rnd() < 0.8 ? 1 : 1 + Math.floor(rnd() * 24);
      event = { tenantId: this.opts.tenantId, metric: 'api_calls', customerRef, quantity: n, ts, idempotencyKey, source };
      if (rnd() < 0.5) event.meta = { endpoint: endpoints[Math.floor(rnd() * endpoints.length)]! };
      micros = BigInt(n) * 1_000_000n;
    } else if (kind < 0.75) {
      const milli = 1 + Math.floor(rnd() * 600_000);
      const quantity = `${Math.floor(milli / 1000)}.${String(milli % 1000).padStart(3, '0')}`;
      event = {
        tenantId: this.opts.tenantId,
        metric: 'compute_seconds',
        customerRef,
        resourceId: `i-${encode(scramble(c * 16 + Math.floor(rnd() * 4)), 8, '0123456789abcdef')}`,
        quantity,
        ts,
        idempotencyKey,
        meta: { region: regions[Math.floor(rnd() * regions.length)]!, instance_type: rnd() < 0.7 ? 'm7g.large' : 'c7g.xlarge' },
        source,
      };
      micros = BigInt(milli) * 1000n;
    } else if (kind < 0.9) {
      const micro = 1 + Math.floor(rnd() * 5_000_000);
      const quantity = `${Math.floor(micro / 1_000_000)}.${String(micro % 1_000_000).padStart(6, '0')}`;
      event = {
        tenantId: this.opts.tenantId,
        metric: 'storage_gb_hours',
        customerRef,
        resourceId: `bucket-${encode(scramble(c), 6, '0123456789abcdefghijklmnopqrstuvwxyz')}`,
        quantity,
        ts,
        idempotencyKey,
        source,
      };
      micros = BigInt(micro);
    } else {
      const bytes = 1 + Math.floor(rnd() * 50_000_000);
      event = {
        tenantId: this.opts.tenantId,
        metric: 'egress_bytes',
        customerRef,
        quantity: bytes,
        ts,
        idempotencyKey,
        meta: { region: regions[Math.floor(rnd() * regions.length)]! },
        source,
      };
      micros = BigInt(bytes) * 1_000_000n;
    }
    return { event, micros };
  }
}

/** Decimal text (as ClickHouse prints a Decimal(38, 6)) to micro-units. */
export function decimalToMicros(text: string): bigint {
  const m = /^(-?)(\d+)(?:\.(\d{1,6}))?$/.exec(text.trim());
  if (!m) throw new Error(`not a decimal: ${text}`);
  const v = BigInt(m[2]!) * 1_000_000n + BigInt((m[3] ?? '').padEnd(6, '0') || '0');
  return m[1] ? -v : v;
}
