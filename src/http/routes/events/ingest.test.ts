import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { event, startTestService, type TestService } from '../../../../test/support/service.js';

let svc: TestService;

beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.destroy();
});

const ingest = (events: unknown[], key?: string) => svc.request('POST', '/v1/events/ingest', { body: { events }, key });
const usage = async (metric: string, extra = '') => {
  const r = await svc.request('GET', `/v1/usage?tenantId=demo&metric=${metric}${extra}`);
  expect(r.status).toBe(200);
  return r.body;
};

describe('POST /v1/events/ingest', () => {
  it('accepts a batch and counts it', async () => {
    const r = await ingest([
      event({ metric: 'm_basic', quantity: '1.25', idempotencyKey: 'b1' }),
      event({ metric: 'm_basic', quantity: 2, idempotencyKey: 'b2', customerRef: 'cus_2' }),
    ]);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ accepted: 2, duplicates: 0, rejected: 0 });
    expect(r.body.results.map((x: any) => x.status)).toEqual(['accepted', 'accepted']);
    expect(typeof r.body.requestId).toBe('string');
    const u = await usage('m_basic');
    expect(u.total).toBe('3.25');
    expect(u.customers).toEqual([
      { customerRef: 'cus_1', total: '1.25', events: 1 },
      { customerRef: 'cus_2', total: '2', events: 1 },
    ]);
  });

  it('dedupes within a batch and across batches, and counts each key once', async () => {
    const e = event({ metric: 'm_dedupe', quantity: 5, idempotencyKey: 'same' });
    const first = await ingest([e, e, event({ metric: 'm_dedupe', quantity: 1, idempotencyKey: 'other' })]);
    expect(first.body).toMatchObject({ accepted: 2, duplicates: 1, rejected: 0 });
    expect(first.body.results[1]).toMatchObject({ index: 1, idempotencyKey: 'same', status: 'duplicate' });
    const second = await ingest([e]);
    expect(second.body).toMatchObject({ accepted: 0, duplicates: 1 });
    expect((await usage('m_dedupe')).total).toBe('6');
  });

  it('derives a deterministic key when none is given', async () => {
    const ts = new Date(Date.now() - 60_000).toISOString();
    const a = await ingest([event({ metric: 'm_derived', quantity: '3.0', ts })]);
    // Same instant in another offset and the same quantity spelled differently: the same event.
    const offsetTs = new Date(Date.parse(ts) + 3600_000).toISOString().replace('Z', '+01:00');
    const b = await ingest([event({ metric: 'm_derived', quantity: 3, ts: offsetTs })]);
    expect(a.body.results[0].idempotencyKey).toMatch(/^auto_[0-9a-f]{40}$/);
    expect(b.body.results[0]).toMatchObject({ status: 'duplicate', idempotencyKey: a.body.results[0].idempotencyKey });
    expect((await usage('m_derived')).total).toBe('3');
  });

  it('rejects the same key with a different payload as a conflict', async () => {
    await ingest([event({ metric: 'm_conflict', quantity: 1, idempotencyKey: 'c1' })]);
    const r = await ingest([
      event({ metric: 'm_conflict', quantity: 2, idempotencyKey: 'c1' }),
      event({ metric: 'm_conflict', quantity: 7, idempotencyKey: 'c2' }),
      event({ metric: 'm_conflict', quantity: 8, idempotencyKey: 'c2' }),
    ]);
    expect(r.body).toMatchObject({ accepted: 1, duplicates: 0, rejected: 2 });
    expect(r.body.results[0]).toMatchObject({ status: 'rejected', error: { code: 'conflict' } });
    expect(r.body.results[2]).toMatchObject({ status: 'rejected', error: { code: 'conflict' } });
    expect((await usage('m_conflict')).total).toBe('8');
  });

  it('stores each key once under concurrent identical batches', async () => {
    const batch = Array.from({ length: 500 }, (_, i) => event({ metric: 'm_concurrent', quantity: 1, idempotencyKey: `k${i}` }));
    const responses = await Promise.all(Array.from({ length: 8 }, () => ingest(batch)));
    for (const r of responses) expect(r.status).toBe(200);
    const accepted = responses.reduce((n, r) => n + r.body.accepted, 0);
    const duplicates = responses.reduce((n, r) => n + r.body.duplicates, 0);
    expect(accepted).toBe(500);
    expect(duplicates).toBe(7 * 500);
    const u = await usage('m_concurrent');
    expect(u.total).toBe('500');
    const rows = await svc.deps.storage.api.query({
      query: "SELECT count() AS n FROM events WHERE tenant_id = 'demo' AND metric = 'm_concurrent'",
      format: 'JSONEachRow',
    });
    expect(Number(((await rows.json()) as any)[0].n)).toBe(500);
  });

  it('accepts the valid events of a mixed batch and reports each invalid one by index', async () => {
    const r = await ingest([
      event({ metric: 'm_mixed', quantity: 1, idempotencyKey: 'ok1' }),
      event({ metric: 'm_mixed', quantity: -1 }),
      event({ metric: 'm_mixed', quantity: 'NaN' }),
      event({ metric: 'm_mixed', quantity: '1.1234567' }),
      event({ metric: 'm_mixed', ts: '2026-01-01T00:00:00' }),
      event({ metric: 'm_mixed', ts: new Date(Date.now() + 10 * 60_000).toISOString() }),
      event({ metric: 'm_mixed', ts: new Date(Date.now() - 400 * 86_400_000).toISOString() }),
      { ...event({ metric: 'm_mixed' }), unexpected: true },
      event({ metric: 'm_mixed', meta: { big: 'x'.repeat(5000) } }),
      event({ metric: 'm_mixed', idempotencyKey: 'k'.repeat(256) }),
      'not an object',
      event({ metric: 'm_mixed', quantity: '2.5', idempotencyKey: 'ok2', meta: { region: 'eu' }, resourceId: 'r1', source: 'sdk' }),
    ]);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ accepted: 2, rejected: 10, duplicates: 0 });
    const byIndex = (i: number) => r.body.results[i];
    expect(byIndex(1).error).toMatchObject({ code: 'invalid_event', field: 'events[1].quantity' });
    expect(byIndex(3).error.message).toMatch(/decimal places/);
    expect(byIndex(4).error).toMatchObject({ field: 'events[4].ts' });
    expect(byIndex(5).error).toMatchObject({ code: 'timestamp_out_of_range' });
    expect(byIndex(6).error).toMatchObject({ code: 'timestamp_out_of_range' });
    expect(byIndex(8).error).toMatchObject({ field: 'events[8].meta' });
    expect(byIndex(9).error).toMatchObject({ field: 'events[9].idempotencyKey' });
    expect(byIndex(11).status).toBe('accepted');
    expect((await usage('m_mixed')).total).toBe('3.5');
    const stored = await svc.request('GET', '/v1/events?tenantId=demo&metric=m_mixed');
    expect(stored.body.events.map((e: any) => e.idempotencyKey).sort()).toEqual(['ok1', 'ok2']);
    expect(stored.body.events.find((e: any) => e.idempotencyKey === 'ok2')).toMatchObject({
      quantity: '2.5',
      meta: { region: 'eu' },
      resourceId: 'r1',
      source: 'sdk',
    });
  });

  it('rejects each event holding a lone UTF-16 surrogate on its own and stores the rest of the batch', async () => {
    const r = await ingest([
      event({ metric: 'm_unicode', quantity: 1, idempotencyKey: 'u1' }),
      event({ metric: 'm_unicode', customerRef: 'bad\ud800' }),
      event({ metric: 'm_unicode', idempotencyKey: 'dup\udfffkey' }),
      event({ metric: 'm_unicode', meta: { region: 'eu\udc00' } }),
      event({ metric: 'm_unicode', meta: { ['dup\udfffkey']: 'x' } }),
      event({ metric: 'm_unicode', quantity: '1\ud800' }),
      event({ metric: 'm_unicode', ts: `${new Date().toISOString()}\ud800` }),
      event({ metric: 'm_unicode', resourceId: '\ud800' }),
      event({ metric: 'm_unicode', source: 'sdk\udbff' }),
      event({ metric: 'm_unicode', quantity: 2, idempotencyKey: 'u2', customerRef: 'cus_\ud83d\ude00', meta: { note: 'caf\u00e9 \ud83d\ude00' } }),
    ]);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ accepted: 2, duplicates: 0, rejected: 8 });
    const fields = r.body.results.map((x: any) => x.error?.field);
    expect(fields).toEqual([
      undefined,
      'events[1].customerRef',
      'events[2].idempotencyKey',
      'events[3].meta.region',
      'events[4].meta',
      'events[5].quantity',
      'events[6].ts',
      'events[7].resourceId',
      'events[8].source',
      undefined,
    ]);
    for (const x of r.body.results.slice(1, 9)) expect(x.error).toMatchObject({ code: 'invalid_event', message: expect.stringMatching(/well-formed Unicode/) });
    expect(r.body.results[2].idempotencyKey).toBe('dup\udfffkey');
    expect((await usage('m_unicode')).total).toBe('3');
    const stored = await svc.request('GET', '/v1/events?tenantId=demo&metric=m_unicode');
    expect(stored.body.events.map((e: any) => e.idempotencyKey).sort()).toEqual(['u1', 'u2']);
    expect(stored.body.events.find((e: any) => e.idempotencyKey === 'u2')).toMatchObject({ customerRef: 'cus_\ud83d\ude00', meta: { note: 'caf\u00e9 \ud83d\ude00' } });
  });

  it('stores a concurrent batch of another tenant untouched by a batch with a lone surrogate', async () => {
    expect((await svc.request('POST', '/v1/admin/tenants', { body: { id: 'unicode-other' } })).status).toBe(201);
    const other = Array.from({ length: 50 }, (_, i) => event({ tenantId: 'unicode-other', metric: 'm_unicode_other', idempotencyKey: `o${i}` }));
    const mine = Array.from({ length: 50 }, (_, i) =>
      event({ metric: 'm_unicode_mine', idempotencyKey: `m${i}`, customerRef: i % 10 === 0 ? 'bad\ud800' : 'cus_1' }),
    );
    const [a, b, c] = await Promise.all([ingest(mine), ingest(other), ingest(mine.slice(0, 25))]);
    expect(a.body.rejected).toBe(5);
    expect(a.body.accepted + a.body.duplicates).toBe(45);
    expect(b.body).toMatchObject({ accepted: 50, rejected: 0 });
    expect(c.body.rejected).toBe(3);
    expect(c.body.accepted + c.body.duplicates).toBe(22);
    expect((await usage('m_unicode_mine')).total).toBe('45');
    const otherUsage = await svc.request('GET', '/v1/usage?tenantId=unicode-other&metric=m_unicode_other');
    expect(otherUsage.body.total).toBe('50');
  });

  it('answers each bad request class with its 4xx and stores nothing', async () => {
    const bad = [
      await svc.request('POST', '/v1/events/ingest', { body: '{"events": [' }),
      await svc.request('POST', '/v1/events/ingest', { body: { events: [] } }),
      await svc.request('POST', '/v1/events/ingest', { body: { nope: 1 } }),
      await svc.request('POST', '/v1/events/ingest', { body: [1, 2] }),
      await svc.request('POST', '/v1/events/ingest', { body: { events: Array.from({ length: 10_001 }, () => event({ metric: 'm_bad' })) } }),
      await svc.request('POST', '/v1/events/ingest', { body: 'events=1', headers: { 'content-type': 'text/plain' } }),
      await svc.request('POST', '/v1/events/ingest', { body: { events: [event({ metric: 'm_bad', meta: { pad: 'x'.repeat(6 * 1024 * 1024) } })] } }),
      await svc.request('POST', '/v1/events/ingest', { body: { events: [event({ metric: 'm_bad', tenantId: 'nobody' })] } }),
    ];
    expect(bad.map((r) => r.status)).toEqual([400, 400, 400, 400, 400, 415, 413, 404]);
    expect(bad[0]!.body.error.code).toBe('invalid_json');
    expect(bad[1]!.body.error.issues[0].path).toBe('events');
    expect(bad[7]!.body.error.code).toBe('unknown_tenant');
    for (const r of bad) expect(typeof r.body.requestId).toBe('string');
    const stored = await svc.request('GET', '/v1/events?tenantId=demo&metric=m_bad');
    expect(stored.body.events).toEqual([]);
  });

  it('keeps dedupe, counters and watermarks across a restart', async () => {
    const e = event({ metric: 'm_restart', quantity: '0.5', idempotencyKey: 'r1' });
    expect((await ingest([e])).body.accepted).toBe(1);
    svc = await svc.restart();
    // The counter's watermark (set by r1, now) survived: an event 60 h older is beyond the lateness window.
    const late = await ingest([event({ metric: 'm_restart_late', quantity: 1, idempotencyKey: 'w0' })]);
    expect(late.body.accepted).toBe(1);
    svc = await svc.restart();
    const beyond = await ingest([event({ metric: 'm_restart_late', quantity: 1, idempotencyKey: 'w1', ts: new Date(Date.now() - 60 * 3600_000).toISOString() })]);
    expect(beyond.body.results[0].lateness).toBe('beyond_window');
    const again = await ingest([e, event({ metric: 'm_restart', quantity: '0.5', idempotencyKey: 'r2' })]);
    expect(again.body).toMatchObject({ accepted: 1, duplicates: 1 });
    expect((await usage('m_restart')).total).toBe('1');
  });

  it('counters equal the sum over distinct stored events', async () => {
    const q = await svc.deps.storage.api.query({
      query: `SELECT
          (SELECT toString(sum(quantity)) FROM (SELECT quantity FROM events FINAL WHERE tenant_id = 'demo' AND beyond_window = 0)) AS raw,
          (SELECT toString(sum(quantity)) FROM usage_period_counters WHERE tenant_id = 'demo') AS period,
          (SELECT toString(sum(quantity)) FROM usage_hourly_counters WHERE tenant_id = 'demo') AS hourly`,
      format: 'JSONEachRow',
    });
    const [row] = (await q.json()) as Array<{ raw: string; period: string; hourly: string }>;
    expect(row!.period).toBe(row!.raw);
    expect(row!.hourly).toBe(row!.raw);
  });

  it('leaves no session setting behind on the ingest connection', async () => {
    await ingest([event({ metric: 'm_leak', idempotencyKey: 'l1' })]);
    await ingest([event({ metric: 'm_leak', idempotencyKey: 'l2' })]);
    expect((await usage('m_leak')).total).toBe('2');
    const rs = await svc.deps.storage.ingest.query({
      query: "SELECT getSetting('insert_deduplication_token') AS token, getSetting('readonly') AS ro",
      format: 'JSONEachRow',
    });
    expect(await rs.json()).toEqual([{ token: '', ro: 0 }]);
  });
});
