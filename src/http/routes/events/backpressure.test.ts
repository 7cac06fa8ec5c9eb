import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../config.js';
import { createLogger } from '../../../log.js';
import { createMetrics } from '../../../ops/metrics.js';
import { IngestOverloadedError, IngestWriter } from '../../../ingest/writer.js';
import { prepareEvent, type EventRow } from '../../../ingest/event.js';
import { event, startTestService, type TestService } from '../../../../test/support/service.js';

const maxQueueRows = 20_000;
const batch = 2_000;
const requests = 40;

let svc: TestService;

beforeAll(async () => {
  // Each group commit first waits 300 ms for more requests, so a burst fills the queue before anything drains.
  svc = await startTestService({ INGEST_QUEUE_MAX_ROWS: String(maxQueueRows), INGEST_MAX_WAIT_MS: '300' });
});
afterAll(async () => {
  await svc?.destroy();
});

type Sent = { status: number; body: any; retryAfter: string | null };

/** One request of `batch` events, quantity 1 each, under its own customer so usage shows which requests counted. */
const bodyOf = (r: number) =>
  JSON.stringify({
    events: Array.from({ length: batch }, (_, i) => event({ metric: 'm_flood', customerRef: `cus_r${r}`, quantity: 1, idempotencyKey: `r${r}-${i}` })),
  });

async function post(body: string): Promise<Sent> {
  const res = await fetch(`${svc.url}/v1/events/ingest`, {
    method: 'POST',
    headers: { authorization: `Bearer ${svc.adminKey}`, 'content-type': 'application/json' },
    body,
  });
  return { status: res.status, body: await res.json(), retryAfter: res.headers.get('retry-after') };
}

async function storedKeys(): Promise<Map<string, number>> {
  const rs = await svc.deps.storage.api.query({
    query: "SELECT idempotency_key AS k, count() AS n FROM events WHERE tenant_id = 'demo' AND metric = 'm_flood' GROUP BY k",
    format: 'JSONEachRow',
  });
  return new Map(((await rs.json()) as Array<{ k: string; n: string }>).map((r) => [r.k, Number(r.n)]));
}

async function usageByCustomer(): Promise<Map<string, number>> {
  const r = await svc.request('GET', '/v1/usage?tenantId=demo&metric=m_flood');
  expect(r.status).toBe(200);
  return new Map((r.body.customers as Array<{ customerRef: string; events: number }>).map((c) => [c.customerRef, c.events]));
}

const metricValue = (text: string, series: string) => Number(text.match(new RegExp(`^${series.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm'))?.[1]);

describe('ingest backpressure', () => {
  it('refuses whole requests with 429 past the queue bound, stores the accepted ones exactly once, and keeps memory bounded', async () => {
    const bodies = Array.from({ length: requests }, (_, r) => bodyOf(r));
    // The deepest the queue went: without the bound it would take the whole flood (80,000 rows).
    const gauge = svc.deps.metrics.ingestQueueRows;
    const set = gauge.set.bind(gauge);
    let deepest = 0;
    gauge.set = ((v: number) => {
      deepest = Math.max(deepest, v);
      set(v);
    }) as typeof gauge.set;

    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
    const started = performance.now();
    let sent: Sent[];
    try {
      sent = await Promise.all(bodies.map((b) => post(b)));
    } finally {
      clearInterval(sampler);
      gauge.set = set;
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    const floodMs = performance.now() - started;

    const ok = sent.flatMap((s, r) => (s.status === 200 ? [r] : []));
    const refused = sent.flatMap((s, r) => (s.status === 429 ? [r] : []));
    console.log(
      `flood: ${ok.length} x 200, ${refused.length} x 429 in ${Math.round(floodMs)} ms; deepest queue ${deepest} rows; ` +
        `rss baseline ${(baseline / 2 ** 20).toFixed(0)} MiB, peak +${((peak - baseline) / 2 ** 20).toFixed(0)} MiB`,
    );
    expect(ok.length + refused.length).toBe(requests);
    expect(ok.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    expect(deepest).toBeGreaterThan(0);
    expect(deepest).toBeLessThanOrEqual(maxQueueRows);
    for (const r of ok) expect(sent[r]!.body).toMatchObject({ accepted: batch, duplicates: 0, rejected: 0 });
    for (const r of refused) {
      expect(sent[r]!.retryAfter).toBe('1');
      expect(sent[r]!.body.error.code).toBe('ingest_overloaded');
      expect(sent[r]!.body.error.message).toMatch(/nothing from this request was stored/);
    }
    // RSS holds the admitted rows (at most 20,000, about 5 MiB as INSERT text), the 40 bodies in flight on both
    // sides of the socket (300 KB of text each, a few MB once parsed) and the engine's insert buffers: about
    // +140 to +210 MiB measured here. It is a ceiling, not what tells bounded from unbounded at this scale (the
    // same flood without the bound peaked at +270 MiB): the queue depth above does.
    expect(peak - baseline).toBeLessThan(300 * 2 ** 20);

    // Exactly the accepted requests are stored and counted, each key once; nothing of a refused one.
    const keys = await storedKeys();
    expect(keys.size).toBe(ok.length * batch);
    expect([...keys.values()].every((n) => n === 1)).toBe(true);
    for (const r of refused) expect(keys.has(`r${r}-0`)).toBe(false);
    const counted = await usageByCustomer();
    expect([...counted.keys()].sort()).toEqual(ok.map((r) => `cus_r${r}`).sort());
    for (const r of ok) expect(counted.get(`cus_r${r}`)).toBe(batch);

    const metrics = (await svc.request('GET', '/metrics', { key: null })).body as string;
    expect(metricValue(metrics, 'ingest_backpressure_rejections_total{reason="rows"}')).toBe(refused.length);
    expect(metricValue(metrics, 'ingest_backpressure_rejected_events_total{reason="rows"}')).toBe(refused.length * batch);
    expect(metricValue(metrics, 'ingest_backpressure_rejections_total{reason="bytes"}')).toBe(0);
    expect(metricValue(metrics, 'ingest_queue_rows')).toBe(0);
    expect(metricValue(metrics, 'ingest_queue_bytes')).toBe(0);

    // What a client does: wait Retry-After, send the same requests again (8 at a time: 16,000 rows always fit).
    await new Promise((r) => setTimeout(r, 1000));
    const retried: Sent[] = [];
    for (let i = 0; i < refused.length; i += 8) {
      retried.push(...(await Promise.all(refused.slice(i, i + 8).map((r) => post(bodies[r]!)))));
    }
    for (const s of retried) expect(s.body).toMatchObject({ accepted: batch, duplicates: 0, rejected: 0 });
    // And a client that re-sends an accepted request by mistake counts nothing twice.
    expect((await post(bodies[ok[0]!]!)).body).toMatchObject({ accepted: 0, duplicates: batch });

    const after = await storedKeys();
    expect(after.size).toBe(requests * batch);
    expect([...after.values()].every((n) => n === 1)).toBe(true);
    const all = await usageByCustomer();
    expect(all.size).toBe(requests);
    expect([...all.values()].every((n) => n === batch)).toBe(true);
  }, 30_000);

  it('bounds bytes too, and an empty queue takes a request larger than either bound', async () => {
    const log = createLogger('silent');
    const metrics = createMetrics();
    const writer = new IngestWriter(
      svc.deps.storage.ingest,
      svc.deps.storage.lookup,
      { maxRows: 20_000, maxWaitMs: 50, latenessWindowMs: 48 * 3600_000, queueMaxRows: 10, queueMaxBytes: 1_500 },
      metrics,
      log,
    );
    const ctx = { nowMs: Date.now(), retentionMs: 90 * 86_400_000, timeZoneOf: () => 'UTC' };
    const rows = (prefix: string, n: number) =>
      Array.from({ length: n }, (_, i) => (prepareEvent(event({ metric: 'm_bytes', idempotencyKey: `${prefix}${i}` }), ctx) as { row: EventRow }).row);

    const big = writer.write(rows('big', 20)); // 20 rows, about 4.8 KB: over both bounds, but the queue is empty
    const refused = writer.write(rows('small', 1)).catch((e: unknown) => e);
    await expect(refused).resolves.toBeInstanceOf(IngestOverloadedError);
    expect(((await refused) as IngestOverloadedError).reason).toBe('rows');
    expect((await big).every((o) => o.status === 'accepted')).toBe(true);

    const first = writer.write(rows('a', 5)); // about 1.2 KB, and 8 rows would still fit
    const overBytes = writer.write(rows('b', 3)).catch((e: unknown) => e);
    expect(((await overBytes) as IngestOverloadedError).reason).toBe('bytes');
    expect((await first).length).toBe(5);
    expect((await metrics.ingestBackpressureRejections.get()).values.map((v) => [v.labels.reason, v.value])).toEqual([
      ['rows', 1],
      ['bytes', 1],
    ]);
    expect((await metrics.ingestQueueBytes.get()).values[0]!.value).toBe(0);
    await writer.close();
  });

  it('refuses bounds below the largest legal request', () => {
    expect(() => loadConfig({ INGEST_QUEUE_MAX_ROWS: '9999' })).toThrow(ConfigError);
    expect(() => loadConfig({ INGEST_QUEUE_MAX_BYTES: String(2 ** 20) })).toThrow(/INGEST_QUEUE_MAX_BYTES/);
    expect(loadConfig({})).toMatchObject({ ingestQueueMaxRows: 200_000, ingestQueueMaxBytes: 256 * 2 ** 20 });
  });
});
