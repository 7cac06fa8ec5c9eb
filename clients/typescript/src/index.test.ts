import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { event, startTestService, type TestService } from '../../../test/support/service.js';
import { createClient, type EventResult, type IngestEvent, type StripemeterClient } from './index.js';

let svc: TestService;
let client: StripemeterClient;

beforeAll(async () => {
  svc = await startTestService();
  client = createClient({ baseUrl: svc.url, apiKey: svc.adminKey });
});
afterAll(async () => {
  await svc?.destroy();
});

const ingestEvent = (overrides: Partial<IngestEvent> = {}) => event(overrides) as IngestEvent;
const usageTotal = async (metric: string) => {
  const { data, error } = await client.GET('/v1/usage', { params: { query: { tenantId: 'demo', metric } } });
  if (error) throw new Error(JSON.stringify(error));
  return data.total;
};

/** Sends events through a buffer and collects every result, in order of the batches' answers. */
async function ingestAll(events: IngestEvent[], options: Parameters<StripemeterClient['ingest']>[0] = {}, via: StripemeterClient = client) {
  const results: Array<EventResult<IngestEvent>> = [];
  const buffer = via.ingest({ ...options, onResults: (r) => results.push(...r) });
  for (const e of events) await buffer.add(e);
  const totals = await buffer.close();
  return { results, totals };
}

type Seen = { n: number; at: number; keys: string[]; count: number };
/** What the proxy does with the n-th ingest request (1-based): answer it itself, forward it, or break the connection. */
type Plan = (n: number) => { answer: number; retryAfter?: string } | 'forward' | 'forward-then-503' | 'forward-then-drop' | 'drop' | { hold: number };

/**
 * A proxy in front of the real service that misbehaves as `plan` says for ingest requests and forwards the rest, and
 * records the idempotency keys of every ingest request it saw.
 */
async function startProxy(plan: Plan) {
  const seen: Seen[] = [];
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const forward = async () => {
      const headers: Record<string, string> = {};
      for (const k of ['authorization', 'content-type', 'content-encoding']) if (typeof req.headers[k] === 'string') headers[k] = req.headers[k];
      return fetch(`${svc.url}${req.url}`, { method: req.method, headers, body: body.length ? body : undefined });
    };
    const reply = async (r: Response) => {
      res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' });
      res.end(Buffer.from(await r.arrayBuffer()));
    };
    if (req.url !== '/v1/events/ingest') return reply(await forward());
    const events = (JSON.parse(body.toString()) as { events: Array<{ idempotencyKey?: string }> }).events;
    const n = seen.push({ n: seen.length + 1, at: Date.now(), keys: events.map((e) => e.idempotencyKey ?? ''), count: events.length });
    const step = plan(n);
    if (step === 'forward') return reply(await forward());
    if (step === 'drop') return req.socket.destroy();
    if (step === 'forward-then-drop') {
      // The service stores the events; the answer is lost on the way back.
      await (await forward()).arrayBuffer();
      return req.socket.destroy();
    }
    if (step === 'forward-then-503') {
      await (await forward()).arrayBuffer();
      res.writeHead(503, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ error: { code: 'storage_unavailable', message: 'lost on the way back' }, requestId: 'proxy' }));
    }
    if ('hold' in step) {
      await new Promise((r) => setTimeout(r, step.hold));
      return reply(await forward());
    }
    res.writeHead(step.answer, { 'content-type': 'application/json', ...(step.retryAfter ? { 'retry-after': step.retryAfter } : {}) });
    const code = { 429: 'ingest_overloaded', 503: 'storage_unavailable', 507: 'insufficient_storage' }[step.answer] ?? 'proxy_error';
    res.end(JSON.stringify({ error: { code, message: 'try again' }, requestId: 'proxy' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    seen,
    client: createClient({ baseUrl: url, apiKey: svc.adminKey }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Fast retries for tests: the backoff's shape is the same, its scale is milliseconds. */
const quickRetry = { baseDelayMs: 5, maxDelayMs: 50 };

describe('typed client', () => {
  it('ingests and reads usage through calls typed from the spec', async () => {
    const { data, error } = await client.POST('/v1/events/ingest', {
      body: { events: [ingestEvent({ metric: 'cl_typed', quantity: 2, idempotencyKey: 'typed-1' }), ingestEvent({ metric: 'cl_typed', quantity: '0.5' })] },
    });
    expect(error).toBeUndefined();
    expect(data).toMatchObject({ accepted: 2, duplicates: 0, rejected: 0 });
    expect(data!.results[0]).toEqual({ index: 0, idempotencyKey: 'typed-1', status: 'accepted' });
    expect(await usageTotal('cl_typed')).toBe('2.5');

    // An error answer is typed too: the spec's error shape, with the codes the route documents.
    const unknown = await client.GET('/v1/usage', { params: { query: { tenantId: 'nobody', metric: 'cl_typed' } } });
    expect(unknown.response.status).toBe(404);
    expect(unknown.error?.error.code).toBe('unknown_tenant');

    // Paths and parameters are checked at compile time (type-checked by `npm run typecheck`, never called).
    const wrong = () => [
      // @ts-expect-error: not a route of the API
      client.GET('/v1/usages'),
      // @ts-expect-error: `metric` is required
      client.GET('/v1/usage', { params: { query: { tenantId: 'demo' } } }),
    ];
    expect(typeof wrong).toBe('function');
  });
});

describe('ingest buffer', () => {
  it('hands back each event its result (accepted, duplicate, rejected with the reason), mapped to the events added', async () => {
    const ts = new Date().toISOString();
    await ingestAll([ingestEvent({ metric: 'cl_results', idempotencyKey: 'res-dup', quantity: 1, ts })]);
    const events = [
      ingestEvent({ metric: 'cl_results', quantity: 3 }),
      ingestEvent({ metric: 'cl_results', idempotencyKey: 'res-dup', quantity: 1, ts }),
      ingestEvent({ metric: 'cl_results', idempotencyKey: 'res-neg', quantity: -1 }),
      ingestEvent({ metric: 'cl_results', idempotencyKey: 'res-dup', quantity: 5, ts }),
      // Refused as a whole request by the service (unknown tenant): the buffer narrows it down to this event.
      ingestEvent({ metric: 'cl_results', idempotencyKey: 'res-who', tenantId: 'nobody' }),
      ingestEvent({ metric: 'cl_results', idempotencyKey: 'res-ok', quantity: 4 }),
    ];
    const { results, totals } = await ingestAll(events);
    expect(totals).toEqual({ accepted: 2, duplicates: 1, rejected: 3, failed: 0 });
    const byEvent = new Map(results.map((r) => [r.event, r]));
    expect(byEvent.size).toBe(events.length);
    const [generated, dup, neg, conflict, who, ok] = events.map((e) => byEvent.get(e)!);
    // A key was made for the event that had none (and the caller's object was left as it was).
    expect(generated).toMatchObject({ status: 'accepted', idempotencyKey: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(events[0]!.idempotencyKey).toBeUndefined();
    expect(dup).toMatchObject({ status: 'duplicate', idempotencyKey: 'res-dup' });
    expect(neg).toMatchObject({ status: 'rejected', idempotencyKey: 'res-neg', error: { code: 'invalid_event', field: 'quantity' } });
    expect(conflict).toMatchObject({ status: 'rejected', error: { code: 'conflict' } });
    expect(who).toMatchObject({ status: 'rejected', idempotencyKey: 'res-who', error: { code: 'unknown_tenant', httpStatus: 404 } });
    expect(ok).toMatchObject({ status: 'accepted', idempotencyKey: 'res-ok' });
    expect(await usageTotal('cl_results')).toBe('8');
  });

  it('sends a batch not yet full after flushIntervalMs, without flush() or close()', async () => {
    const results: Array<EventResult<IngestEvent>> = [];
    const buffer = client.ingest({ flushIntervalMs: 50, onResults: (r) => results.push(...r) });
    await buffer.add(ingestEvent({ metric: 'cl_interval', quantity: 7 }));
    await expect.poll(() => results.length, { timeout: 5000 }).toBe(1);
    expect(results[0]!.status).toBe('accepted');
    await buffer.close();
    await expect(buffer.add(ingestEvent({ metric: 'cl_interval' }))).rejects.toThrow(/closed/);
  });

  it('splits more than 10,000 events into requests of at most 10,000', async () => {
    const proxy = await startProxy(() => 'forward');
    try {
      const ts = new Date().toISOString();
      const events = Array.from({ length: 20_001 }, (_, i) => ingestEvent({ metric: 'cl_split', customerRef: `cus_${i % 10}`, ts }));
      const { totals } = await ingestAll(events, { flushIntervalMs: 0 }, proxy.client);
      expect(proxy.seen.map((s) => s.count)).toEqual([10_000, 10_000, 1]);
      expect(totals).toEqual({ accepted: 20_001, duplicates: 0, rejected: 0, failed: 0 });
      expect(await usageTotal('cl_split')).toBe('20001');
    } finally {
      await proxy.close();
    }
  });

  it('retries 507, 503 and 429 with the same idempotency keys, waits Retry-After, and counts the events once', async () => {
    // 1: refused outright (507, the disk floor); 2: stored by the service, but the answer is lost (a 503 comes back);
    // 3: refused with Retry-After: 1; 4: answered. Keys generated per attempt would count the events twice.
    const proxy = await startProxy((n) => (n === 1 ? { answer: 507 } : n === 2 ? 'forward-then-503' : n === 3 ? { answer: 429, retryAfter: '1' } : 'forward'));
    try {
      const events = [ingestEvent({ metric: 'cl_retry', quantity: 2 }), ingestEvent({ metric: 'cl_retry', quantity: 3, customerRef: 'cus_2' })];
      const { results, totals } = await ingestAll(events, { retry: quickRetry }, proxy.client);
      expect(proxy.seen).toHaveLength(4);
      const keys = proxy.seen[0]!.keys;
      expect(keys.every((k) => k.length > 0)).toBe(true);
      for (const s of proxy.seen) expect(s.keys).toEqual(keys);
      expect(proxy.seen[3]!.at - proxy.seen[2]!.at).toBeGreaterThanOrEqual(950);
      // Stored by attempt 2, so attempt 4 finds them: duplicates, and the total counts each once.
      expect(totals).toEqual({ accepted: 0, duplicates: 2, rejected: 0, failed: 0 });
      expect(results.map((r) => r.idempotencyKey)).toEqual(keys);
      expect(await usageTotal('cl_retry')).toBe('5');
    } finally {
      await proxy.close();
    }
  });

  it('retries network errors (connection dropped before and after the service stored the events)', async () => {
    const proxy = await startProxy((n) => (n === 1 ? 'drop' : n === 2 ? 'forward-then-drop' : 'forward'));
    try {
      const events = [ingestEvent({ metric: 'cl_net', quantity: 4 }), ingestEvent({ metric: 'cl_net', quantity: 6, customerRef: 'cus_2' })];
      const { totals } = await ingestAll(events, { retry: quickRetry }, proxy.client);
      expect(proxy.seen).toHaveLength(3);
      for (const s of proxy.seen) expect(s.keys).toEqual(proxy.seen[0]!.keys);
      expect(totals).toEqual({ accepted: 0, duplicates: 2, rejected: 0, failed: 0 });
      expect(await usageTotal('cl_net')).toBe('10');
    } finally {
      await proxy.close();
    }
  });

  it('gives up after maxAttempts (failed, retries_exhausted) and never retries a 401', async () => {
    const proxy = await startProxy(() => ({ answer: 503 }));
    try {
      const { results, totals } = await ingestAll([ingestEvent({ metric: 'cl_fail', idempotencyKey: 'fail-1' })], { retry: { ...quickRetry, maxAttempts: 3 } }, proxy.client);
      expect(proxy.seen).toHaveLength(3);
      expect(totals.failed).toBe(1);
      expect(results[0]).toMatchObject({ status: 'failed', idempotencyKey: 'fail-1', error: { code: 'retries_exhausted', httpStatus: 503, attempts: 3 } });
    } finally {
      await proxy.close();
    }
    let requests = 0;
    const counting = createClient({
      baseUrl: svc.url,
      apiKey: 'sm_not_a_real_key',
      fetch: (input, init) => {
        requests++;
        return fetch(input, init);
      },
    });
    const { results } = await ingestAll([ingestEvent({ metric: 'cl_fail' }), ingestEvent({ metric: 'cl_fail' })], { retry: quickRetry }, counting);
    expect(requests).toBe(1);
    expect(results.map((r) => r.status)).toEqual(['failed', 'failed']);
    expect(results[0]).toMatchObject({ error: { code: 'unauthorized', httpStatus: 401, attempts: 1 } });
  });

  it('makes add() wait while maxPendingEvents are unanswered (bounded memory)', async () => {
    // The first request is held: adds must stop at the bound until it is answered.
    const proxy = await startProxy((n) => (n === 1 ? { hold: 400 } : 'forward'));
    try {
      let added = 0;
      let addedAtFirstAnswer = -1;
      const buffer = proxy.client.ingest({
        maxBatchEvents: 100,
        maxPendingEvents: 250,
        flushIntervalMs: 0,
        onResults: () => {
          if (addedAtFirstAnswer < 0) addedAtFirstAnswer = added;
        },
      });
      for (let i = 0; i < 1000; i++) {
        await buffer.add(ingestEvent({ metric: 'cl_pressure', customerRef: `cus_${i % 5}` }));
        added++;
      }
      const totals = await buffer.close();
      expect(totals.accepted).toBe(1000);
      // While the first request was held, adds went on up to the bound and no further (one request at a time).
      expect(addedAtFirstAnswer).toBe(250);
      expect(Math.max(...proxy.seen.map((s) => s.count))).toBeLessThanOrEqual(100);
      expect(await usageTotal('cl_pressure')).toBe('1000');
    } finally {
      await proxy.close();
    }
  });
});
