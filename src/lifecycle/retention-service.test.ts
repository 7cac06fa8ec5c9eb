import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../http/app.js';
import { responseProblems } from '../../test/support/openapi.js';
import { event, startTestService, type TestService } from '../../test/support/service.js';
import { insertReplayRun } from '../storage/queries/replay.js';
import { toClickHouseTime } from '../storage/time.js';
import { nextVersion } from '../storage/version.js';
import { resolveWindow } from '../replay/window.js';
import { monthOf, Retention, type RetentionRun } from './retention.js';

// Raw events older than 2 s are dropped; ingest refuses events older than 2 s.
const env = { RAW_EVENT_RETENTION: 'PT2S', EVENT_RETENTION: 'PT2S', PUSH_INTERVAL: 'PT1H', RECON_INTERVAL: 'PT1H' };
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService(env);
  // Runs only when a test asks (the scheduled one could fall between a test's steps).
  await svc.deps.retention.job.stop();
});
afterAll(async () => {
  await svc?.destroy();
});

const day = 86_400_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ingest = async (events: unknown[]) => {
  const r = await svc.request('POST', '/v1/events/ingest', { body: { events } });
  expect(r.status).toBe(200);
  return r.body.results as Array<{ status: string; idempotencyKey: string | null; error?: { code: string } }>;
};
const runRetention = async (): Promise<RetentionRun> => {
  const r = await svc.request('POST', '/v1/admin/retention/run');
  expect(r.status).toBe(200);
  return r.body;
};
const count = async (sql: string, params: Record<string, unknown> = {}) => {
  const rs = await svc.deps.storage.api.query({ query: `SELECT toUInt64(count()) AS n FROM ${sql}`, query_params: params, format: 'JSONEachRow' });
  return Number(((await rs.json()) as Array<{ n: number | string }>)[0]!.n);
};
const tableRun = (body: RetentionRun, table: string) => body.tables.find((t) => t.table === table)!;
const metric = async (name: string) => {
  const text = (await svc.request('GET', '/metrics', { key: null })).body as string;
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
};
/** Rows straight into the raw tables, as old as no ingest would take them (their views count them as usual). */
async function insertOld(tenantId: string, key: string, tsMs: number, replayed = false) {
  const ts = toClickHouseTime(tsMs);
  const period = new Date(tsMs).toISOString().slice(0, 7);
  const row = { tenant_id: tenantId, idempotency_key: key, metric: 'calls', customer_ref: 'c1', quantity: '1', ts, period, payload_hash: 'h'.repeat(16) };
  await svc.deps.storage.api.insert({ table: 'events', values: [row], format: 'JSONEachRow' });
  if (replayed) {
    const { quantity: _q, payload_hash: _h, ...rest } = row;
    await svc.deps.storage.api.insert({ table: 'replayed_events', values: [{ ...rest, replay_id: 'rpl_old' }], format: 'JSONEachRow' });
  }
}

describe('raw event retention (RAW_EVENT_RETENTION=PT2S)', () => {
  it('drops expired raw events, keeps every counter, answers duplicate for their keys, refuses replay of their window', async () => {
    expect((await svc.request('POST', '/v1/admin/tenants', { body: { id: 'ret' } })).status).toBe(201);
    expect((await svc.request('POST', '/v1/meters', { body: { tenantId: 'ret', metric: 'seats', aggregation: 'max' } })).status).toBe(201);
    const ts = new Date().toISOString();
    const period = ts.slice(0, 7);
    const sent = [
      event({ tenantId: 'ret', metric: 'calls', quantity: 2, ts, idempotencyKey: 'r-1' }),
      event({ tenantId: 'ret', metric: 'calls', quantity: 3, ts, idempotencyKey: 'r-2' }),
      event({ tenantId: 'ret', metric: 'calls', quantity: 5, ts, customerRef: 'cus_2' }),
      event({ tenantId: 'ret', metric: 'seats', quantity: 7, ts, idempotencyKey: 's-1' }),
    ];
    const accepted = await ingest(sent);
    expect(accepted.map((r) => r.status)).toEqual(['accepted', 'accepted', 'accepted', 'accepted']);
    const oldMs = Date.now() - 70 * day;
    await insertOld('ret_old', 'old-1', oldMs, true);
    const usage = async () => ({
      calls: (await svc.request('GET', `/v1/usage?tenantId=ret&metric=calls&period=${period}`)).body,
      seats: (await svc.request('GET', `/v1/usage?tenantId=ret&metric=seats&period=${period}`)).body,
    });
    const before = await usage();
    expect(before.calls.total).toBe('10');
    expect(before.seats.total).toBe('7');
    expect(await count("events WHERE tenant_id IN ('ret', 'ret_old')")).toBe(5);

    await sleep(2500);
    const first = await runRetention();
    expect(Date.parse(first.horizon)).toBeGreaterThan(Date.parse(ts));
    expect(first.cutoff).toBe(first.horizon);
    expect(first.heldBackBy).toEqual([]);
    const events = tableRun(first, 'events');
    expect(events.partitionsDropped).toContain(monthOf(oldMs));
    expect(events.rowsDropped + events.rowsDeleted).toBe(5);
    expect(tableRun(first, 'replayed_events')).toEqual({ table: 'replayed_events', partitionsDropped: [monthOf(oldMs)], rowsDropped: 1, rowsDeleted: 0 });

    // The raw rows are gone; the counters, meter states and dedupe keys are not.
    expect(await count("events WHERE tenant_id IN ('ret', 'ret_old')")).toBe(0);
    expect(await count('replayed_events')).toBe(0);
    expect(await count("event_keys WHERE tenant_id = 'ret'")).toBe(4);
    expect(await usage()).toEqual(before);
    expect(await metric('retention_rows_dropped_total')).toBe(6);
    expect(await metric('retention_horizon_timestamp_seconds')).toBe(Date.parse(first.horizon) / 1000);
    // A meter stays fixed once its metric has counted events, raw rows dropped or not.
    const redefine = await svc.request('PUT', '/v1/meters/ret/seats', { body: { aggregation: 'sum' } });
    expect([redefine.status, redefine.body.error?.code]).toEqual([409, 'meter_has_events']);

    // The same events again (now older than EVENT_RETENTION): duplicates, counted once as before.
    const again = await ingest(sent);
    expect(again.map((r) => r.status)).toEqual(['duplicate', 'duplicate', 'duplicate', 'duplicate']);
    expect(again.map((r) => r.idempotencyKey)).toEqual(accepted.map((r) => r.idempotencyKey));
    expect(await usage()).toEqual(before);
    expect(await count("events WHERE tenant_id = 'ret'")).toBe(0);

    // The same key with another payload, and a key never stored: still refused for their age.
    const other = await ingest([
      event({ tenantId: 'ret', metric: 'calls', quantity: 9, ts, idempotencyKey: 'r-1' }),
      event({ tenantId: 'ret', metric: 'calls', quantity: 2, ts, idempotencyKey: 'r-never' }),
    ]);
    expect(other.map((r) => [r.status, r.error?.code])).toEqual([
      ['rejected', 'timestamp_out_of_range'],
      ['rejected', 'timestamp_out_of_range'],
    ]);
    expect(await usage()).toEqual(before);

    // Nothing can be recomputed from events that are gone: replay and raw-event usage queries refuse the window.
    const replay = await svc.request('POST', '/v1/replay', { body: { tenantId: 'ret', metrics: ['calls'], since: '-PT1H', mode: 'dry-run' } });
    expect(replay.status).toBe(400);
    expect(replay.body.error.code).toBe('window_before_retention');
    expect(replay.body.error.message).toContain('RAW_EVENT_RETENTION=PT2S');
    expect(replay.body.error.message).toMatch(/before \d{4}-\d\d-\d\dT[\d:.]+Z, the oldest raw events still held/);
    const minute = Math.floor(Date.parse(ts) / 60_000) * 60_000;
    const query = await svc.request(
      'GET',
      `/v1/usage/query?tenantId=ret&metric=calls&window=PT1M&from=${new Date(minute).toISOString()}&to=${new Date(minute + 60_000).toISOString()}`,
    );
    expect(query.status).toBe(400);
    expect(query.body.error.code).toBe('window_before_retention');

    // A second run finds nothing more to drop.
    const second = await runRetention();
    expect(Date.parse(second.horizon)).toBeGreaterThanOrEqual(Date.parse(first.horizon));
    for (const t of second.tables) expect([t.partitionsDropped, t.rowsDropped, t.rowsDeleted]).toEqual([[], 0, 0]);
    expect(await metric('retention_rows_dropped_total')).toBe(6);
    expect(await usage()).toEqual(before);
  });

  it('holds back for a running replay apply, whose own check then refuses it; drops the rest once it ended', async () => {
    const now = Date.now();
    const start = Math.floor((now - 3600_000) / 3600_000) * 3600_000;
    await insertOld('held', 'before', start - 3600_000);
    await insertOld('held', 'inside', start + 60_000);
    const window = resolveWindow(new Date(start).toISOString(), 'now', now);
    if ('error' in window) throw new Error(window.error);
    const run = {
      id: 'rpl_held',
      tenantId: 'held',
      mode: 'apply' as const,
      request: JSON.stringify({ window: { effective: window.effective } }),
      status: 'running' as const,
      progress: 0,
      result: '',
      error: '',
      createdBy: 'test',
      startedAt: toClickHouseTime(now),
      finishedAt: null,
      version: nextVersion(),
    };
    await insertReplayRun(svc.deps.storage.api, [run]);
    const held = await runRetention();
    expect(held.heldBackBy).toEqual(['rpl_held']);
    expect(Date.parse(held.cutoff)).toBe(start);
    expect(Date.parse(held.horizon)).toBeGreaterThan(start);
    expect(await count("events WHERE tenant_id = 'held' AND idempotency_key = 'before'")).toBe(0);
    expect(await count("events WHERE tenant_id = 'held' AND idempotency_key = 'inside'")).toBe(1);

    // An apply whose window the recorded horizon passed fails before writing anything.
    const { done } = await svc.deps.replay.start(
      { tenantId: 'held', metrics: ['calls'], customerRefs: [], since: window.requested.since, until: window.requested.until, mode: 'apply' },
      window,
      'test',
    );
    const failed = await done;
    expect(failed.status).toBe('failed');
    expect(failed.error).toContain('RAW_EVENT_RETENTION=PT2S');
    expect(await count('counter_corrections WHERE replay_id = {id:String}', { id: failed.id })).toBe(0);
    await svc.deps.replay.flush();

    await insertReplayRun(svc.deps.storage.api, [{ ...run, status: 'interrupted', finishedAt: toClickHouseTime(Date.now()), version: nextVersion() }]);
    const after = await runRetention();
    expect(after.heldBackBy).toEqual([]);
    expect(tableRun(after, 'events').rowsDeleted + tableRun(after, 'events').rowsDropped).toBe(1);
    expect(await count("events WHERE tenant_id = 'held'")).toBe(0);
  });

  it('is run by the service admin key only, and answers 409 when retention is off', async () => {
    const key = (await svc.request('POST', '/v1/admin/api-keys', { body: { tenantId: 'ret', scopes: ['admin'] } })).body.key;
    const tenantAdmin = await svc.request('POST', '/v1/admin/retention/run', { key });
    expect([tenantAdmin.status, tenantAdmin.body.error.code]).toEqual([403, 'forbidden']);

    // The same service with RAW_EVENT_RETENTION=off (one engine per process: its app, on these dependencies).
    const policy = new Retention(
      { jobs: svc.deps.storage.jobs, api: svc.deps.storage.api },
      { rawEventsMs: null, rawEvents: 'off', target: {} },
      svc.deps.metrics,
      svc.deps.log,
    );
    const server = http.createServer(createApp({ ...svc.deps, retention: { ...svc.deps.retention, policy } }).callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const r = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/admin/retention/run`, {
        method: 'POST',
        headers: { authorization: `Bearer ${svc.adminKey}` },
      });
      const body = (await r.json()) as { error: { code: string } };
      expect([r.status, body.error.code]).toEqual([409, 'retention_off']);
      expect(responseProblems('POST', '/v1/admin/retention/run', r.status, r.headers.get('content-type'), body)).toEqual([]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
