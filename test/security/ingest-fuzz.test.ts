import { deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sumDecimals } from '../../src/counters/decimal.js';
import { parseQuantity } from '../../src/ingest/quantity.js';
import { periodOf } from '../../src/time/period.js';
import { startTestService, type TestService } from '../support/service.js';

/**
 * Random and mutated ingest batches from several tenants. Each subject request is sent twice: alone to one set of
 * tenants, then to a mirror set while hostile requests run beside it; its outcome must not change. No 5xx ever;
 * what is stored is exactly what was accepted, and the counters are exactly the stored events.
 * Reproduce a run with INGEST_FUZZ_SEED=<the printed seed>.
 */
const seed = Number(process.env.INGEST_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32));
console.log(`ingest fuzz seed: ${seed} (INGEST_FUZZ_SEED=${seed} to reproduce)`);

// mulberry32: small, fast and good enough for test inputs.
function prng(a: number) {
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(seed);
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
const chance = (p: number) => random() < p;

const tenants = ['fuzz-a', 'fuzz-b', 'fuzz-c'];
const mirror = (t: string) => `${t}-m`;
const metrics = ['m.one', 'm:two', 'm-three'];

// Strings a parser, a hash, the engine or a JSON encoder may mishandle.
const awkward = [
  'plain', 'é', 'e\u0301', '😀', '👩‍👩‍👧', '\u202eRTL', 'zero\u200bwidth', '\u0000nul', 'tab\tnew\nline', '\u001b[31m', '"quoted"',
  'back\\slash', '\ufeffbom', '\uffff', '𝔘𝔫𝔦', '中文', ' ', 'a'.repeat(255), '€'.repeat(85), "'; DROP TABLE events; --", '{x:Int32}',
];
const loneSurrogates = ['\ud800', '\udfff', 'a\ud83d', '\ude00b'];

function awkwardString(max = 255): string {
  let s = '';
  const parts = 1 + int(3);
  for (let i = 0; i < parts; i++) s += pick(awkward);
  return s.slice(0, max) || 'x';
}

function quantity(): { value: unknown; raw?: string } {
  switch (int(14)) {
    case 0: return { value: int(1000) };
    case 1: return { value: `${int(1000)}.${String(int(1_000_000)).padStart(6, '0')}` };
    case 2: return { value: '007.50' };
    case 3: return { value: 1e21 };
    case 4: return { value: 1e-7 };
    case 5: return { value: -1 };
    case 6: return { value: '1e3' };
    case 7: return { value: 0, raw: '9007199254740993' };
    case 8: return { value: '9'.repeat(32) };
    case 9: return { value: '9'.repeat(33) };
    case 10: return { value: ` ${int(50)} ` };
    case 11: return { value: pick([null, true, {}, [], 'NaN', 'Infinity', '', '0x10', '1.0000001']) };
    case 12: return { value: 0, raw: pick(['1.00000000000000001', '1e400', '-0', '0.1', '123456789012345678901234567890']) };
    default: return { value: random() * 100 };
  }
}

type Built = { json: string; key: string };

/** One event as JSON text (raw number tokens need text), valid or mutated. */
function buildEvent(tenant: string, metric: string, n: number): Built {
  const key = `k${n}-${int(1e9)}`;
  const e: Record<string, unknown> = { tenantId: tenant, metric, customerRef: awkwardString(), ts: new Date(Date.now() - int(600_000)).toISOString() };
  const q = quantity();
  e.quantity = q.value;
  // The largest quantity gets a counter of its own: two of them overflow a counter (a known limit, reported apart).
  if (q.value === '9'.repeat(32)) e.customerRef = `big-${key}`;
  if (chance(0.9)) e.idempotencyKey = chance(0.05) ? `${key}${'x'.repeat(250)}`.slice(0, pick([255, 256])) : key;
  if (chance(0.5)) {
    const meta: Record<string, unknown> = {};
    for (let i = int(4); i > 0; i--) meta[awkwardString(40)] = awkwardString(100);
    if (chance(0.05)) meta.big = 'b'.repeat(4090);
    e.meta = meta;
  }
  if (chance(0.2)) e.resourceId = awkwardString();
  if (chance(0.2)) e.source = awkwardString(128);
  switch (int(12)) {
    case 0: e.customerRef = pick(loneSurrogates); break;
    case 1: e.meta = { [pick(loneSurrogates)]: 'v' }; break;
    case 2: e.ts = pick(['2026-13-01T00:00:00Z', '2026-02-30T00:00:00Z', 'yesterday', '2026-01-01T00:00:00', '9999-01-01T00:00:00Z', 12]); break;
    case 3: e.extra = 1; break;
    case 4: e.meta = { nested: { deep: [1, 2, 3] } }; break;
    case 5: e.customerRef = 'c'.repeat(256); break;
    case 6: e.metric = pick(['', 'with space', 'ü', 7]); break;
    default: break;
  }
  let json = JSON.stringify(e);
  if (q.raw !== undefined) json = json.replace('"quantity":0', `"quantity":${q.raw}`);
  if (chance(0.03)) json = pick(['null', '"event"', '[]', '42', JSON.stringify([e])]);
  if (chance(0.03)) json = json.replace(/}$/, ',"meta":{"__proto__":"p","k":"v"}}'); // a repeated key: the last one counts
  return { json, key };
}

type Subject = { tenant: string; json: (tenant: string) => string };

function subjectRequest(tenant: string): Subject {
  const metric = pick(metrics);
  const events: Built[] = [];
  for (let i = int(40) + 1; i > 0; i--) events.push(buildEvent('__TENANT__', metric, i));
  // A re-sent event answers duplicate, inside the batch and across the two sends.
  if (events.length > 1 && chance(0.3)) events.push(events[0]!);
  const body = `{"events":[${events.map((e) => e.json).join(',')}]}`;
  return { tenant, json: (t) => body.replaceAll('"__TENANT__"', JSON.stringify(t)) };
}

type Encoding = 'gzip' | 'deflate' | 'br';

/** Whole requests that must be refused with a 4xx and store nothing. */
function hostileRequest(): { body: Buffer | string; contentType: string; encoding?: Encoding } {
  const valid = `{"events":[{"tenantId":"fuzz-c","metric":"hostile","customerRef":"c","quantity":1,"ts":"${new Date().toISOString()}"}]}`;
  const cloudEvent = { specversion: '1.0', id: 'h1', type: 'hostile', subject: 'c', source: 'fuzz', data: { tenantId: 'fuzz-c', quantity: 1 } };
  switch (int(17)) {
    // A small body that inflates past the 5 MB limit: 413, and no memory growth.
    case 11: return { body: gzipSync(Buffer.from(`{"events":[${' '.repeat(6 * 1024 * 1024)}]}`)), contentType: 'application/json', encoding: 'gzip' };
    case 12: {
      const broken = gzipSync(Buffer.from(valid));
      broken.fill(0x41, 12, 20);
      return { body: broken, contentType: 'application/json', encoding: 'gzip' };
    }
    case 13: return { body: valid, contentType: 'application/json', encoding: 'br' };
    case 14: return { body: deflateSync(Buffer.from(valid)), contentType: 'application/json', encoding: 'gzip' };
    case 15: return { body: JSON.stringify([{ ...cloudEvent, specversion: '0.3' }, { ...cloudEvent, id: 'h2', data: 'not an object' }, { ...cloudEvent, id: 'h3', data: { tenantId: 'fuzz-c', quantity: 'NaN' } }]), contentType: 'application/cloudevents-batch+json' };
    case 16: return { body: JSON.stringify({ ...cloudEvent, data: { tenantId: 'nobody', quantity: 1 } }), contentType: 'application/cloudevents+json' };
    case 0: return { body: valid.slice(0, int(valid.length - 1) + 1), contentType: 'application/json' };
    case 1: return { body: Buffer.from(`\ufeff${valid}`, 'utf16le'), contentType: 'application/json; charset=utf-16' };
    case 2: return { body: valid, contentType: 'text/plain' };
    case 3: return { body: Buffer.concat([Buffer.from(valid.slice(0, 60)), Buffer.from([0xff, 0xfe, 0xc0, 0x80]), Buffer.from(valid.slice(60))]), contentType: 'application/json' };
    case 4: return { body: `{"events":[${'['.repeat(100_000)}${']'.repeat(100_000)}]}`, contentType: 'application/json' };
    case 5: return { body: `{"events":[{"meta":${'{"a":'.repeat(50_000)}9007199254740993${'}'.repeat(50_000)}}]}`, contentType: 'application/json' };
    case 6: return { body: `{"events":[${Array.from({ length: 10_001 }, () => '{}').join(',')}]}`, contentType: 'application/json' };
    case 7: return { body: `{"events":[],"x":1}`, contentType: 'application/json' };
    case 8: return { body: valid.replace('fuzz-c', 'nobody'), contentType: 'application/json' };
    case 9: return { body: `{"events":[{"tenantId":"fuzz-c","metric":"hostile","customerRef":"${'x'.repeat(5 * 1024 * 1024)}"}]}`, contentType: 'application/json' };
    default: return { body: valid.replace('"events"', '"__proto__"'), contentType: 'application/json' };
  }
}

let svc: TestService;

beforeAll(async () => {
  svc = await startTestService({ STRIPEMETER_DEMO_TENANT: 'false' });
  for (const t of [...tenants, ...tenants.map(mirror)]) expect((await svc.request('POST', '/v1/admin/tenants', { body: { id: t } })).status).toBe(201);
});
afterAll(async () => {
  await svc?.destroy();
});

async function send(body: Buffer | string, contentType: string, encoding?: Encoding) {
  const headers: Record<string, string> = { authorization: `Bearer ${svc.adminKey}`, 'content-type': contentType };
  if (encoding) headers['content-encoding'] = encoding;
  const res = await fetch(`${svc.url}/v1/events/ingest`, { method: 'POST', headers, body });
  return { status: res.status, body: (await res.json()) as any };
}

/** What a client sees of a request's outcome, with the tenant's name taken out. */
function outcome(r: { status: number; body: any }, tenant: string) {
  const normal = (v: unknown) => JSON.parse(JSON.stringify(v ?? null).replaceAll(tenant, '<tenant>'));
  if (r.status !== 200) return { status: r.status, error: normal(r.body.error) };
  return {
    status: 200,
    results: r.body.results.map((x: any) => ({
      status: x.status,
      error: normal(x.error),
      key: x.idempotencyKey?.startsWith('auto_') ? 'auto' : x.idempotencyKey,
    })),
  };
}

type Accepted = { tenant: string; metric: string; customerRef: string; quantity: string; meta: Record<string, string>; period: string };

describe(`ingest fuzz (seed ${seed})`, () => {
  it('no 5xx, outcomes independent of other requests, stored = accepted, counters = stored', async () => {
    const subjects = Array.from({ length: 36 }, () => subjectRequest(pick(tenants)));
    const accepted = new Map<string, Accepted>();
    const record = (subject: Subject, tenant: string, r: { status: number; body: any }) => {
      if (r.status !== 200) return;
      const events = JSON.parse(subject.json(tenant)).events as any[];
      r.body.results.forEach((x: any, i: number) => {
        if (x.status !== 'accepted') return;
        const e = events[i];
        const q = parseQuantity(e.quantity);
        expect(q.ok).toBe(true);
        accepted.set(`${tenant}\u0000${x.idempotencyKey}`, {
          tenant,
          metric: e.metric,
          customerRef: e.customerRef,
          quantity: (q as { value: string }).value,
          meta: e.meta ?? {},
          period: periodOf(Date.parse(e.ts)),
        });
      });
    };

    // Alone, one after another.
    const alone: unknown[] = [];
    for (const s of subjects) {
      const r = await send(s.json(s.tenant), 'application/json');
      expect(r.status, s.json(s.tenant).slice(0, 300)).toBeLessThan(500);
      alone.push(outcome(r, s.tenant));
      record(s, s.tenant, r);
    }

    // Again to the mirror tenants, all at once, among hostile requests; some compressed (the outcome must not change).
    const hostile = Array.from({ length: 24 }, hostileRequest);
    const compress = { gzip: gzipSync, deflate: deflateSync };
    const encodings = subjects.map(() => pick([undefined, undefined, 'gzip', 'deflate'] as const));
    const [mixed, refused] = await Promise.all([
      Promise.all(
        subjects.map((s, i) => {
          const text = s.json(mirror(s.tenant));
          const enc = encodings[i];
          return enc ? send(compress[enc](Buffer.from(text)), 'application/json', enc) : send(text, 'application/json');
        }),
      ),
      Promise.all(hostile.map((h) => send(h.body, h.contentType, h.encoding))),
    ]);
    mixed.forEach((r, i) => {
      const s = subjects[i]!;
      expect(r.status).toBeLessThan(500);
      expect(outcome(r, mirror(s.tenant)), `subject ${i} (${encodings[i] ?? 'identity'})`).toEqual(alone[i]);
      record(s, mirror(s.tenant), r);
    });
    refused.forEach((r, i) => {
      const seen = `hostile ${i}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`;
      // Refused whole, or (events without a tenant) each event refused.
      if (r.status === 200) expect(r.body.accepted, seen).toBe(0);
      else expect(r.status >= 400 && r.status < 500, seen).toBe(true);
    });
    expect(accepted.size).toBeGreaterThan(50);

    // Stored events are exactly the accepted ones, field for field.
    const since = new Date(Date.now() - 3600_000).toISOString();
    for (const tenant of [...tenants, ...tenants.map(mirror)]) {
      const stored = [];
      for (let cursor = ''; ; ) {
        const r = await svc.request('GET', `/v1/events?tenantId=${tenant}&since=${since}&limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
        expect(r.status).toBe(200);
        stored.push(...r.body.events);
        if (!r.body.nextCursor) break;
        cursor = r.body.nextCursor;
      }
      const expected = [...accepted.entries()].filter(([, a]) => a.tenant === tenant);
      expect(stored.map((e: any) => e.idempotencyKey).sort()).toEqual(expected.map(([k]) => k.slice(k.indexOf('\u0000') + 1)).sort());
      for (const e of stored) {
        const a = accepted.get(`${tenant}\u0000${e.idempotencyKey}`)!;
        expect({ metric: e.metric, customerRef: e.customerRef, quantity: e.quantity, meta: e.meta }).toEqual({
          metric: a.metric,
          customerRef: a.customerRef,
          quantity: a.quantity,
          meta: a.meta,
        });
      }

      // Counters are exactly the stored events, per metric, period and customer.
      // Customer refs hold NUL and every other character: grouped by the JSON of the triple.
      const groups = new Map<string, string[]>();
      for (const [, a] of expected) {
        const k = JSON.stringify([a.metric, a.period, a.customerRef]);
        groups.set(k, [...(groups.get(k) ?? []), a.quantity]);
      }
      for (const metric of metrics) {
        for (const period of new Set(expected.map(([, a]) => a.period))) {
          const u = await svc.request('GET', `/v1/usage?tenantId=${tenant}&metric=${encodeURIComponent(metric)}&period=${period}`);
          expect(u.status).toBe(200);
          const counted = Object.fromEntries(u.body.customers.map((c: any) => [c.customerRef, c.total]));
          const want: Record<string, string> = {};
          for (const [k, qs] of groups) {
            const [m, p, customerRef] = JSON.parse(k) as [string, string, string];
            if (m === metric && p === period) want[customerRef] = sumDecimals(qs);
          }
          expect(counted, `${tenant} ${metric} ${period}`).toEqual(want);
        }
      }
    }
    expect(await svc.request('GET', '/v1/events?tenantId=fuzz-c&metric=hostile&since=' + since).then((r) => r.body.events)).toEqual([]);
  }, 60_000);
});
