import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { event, startTestService, type TestService } from '../../test/support/service.js';
import { keepClockAwayFromMonthStart } from '../../test/support/clock.js';
import { tenantWithMeter } from '../../test/support/stripe.js';
import { loadSql } from '../storage/sql.js';
import { toClickHouseTime } from '../storage/time.js';

keepClockAwayFromMonthStart();

const env = {
  STRIPE_SANDBOX_PORT: '0',
  PUSH_INTERVAL: 'PT1H',
  EVENT_RETENTION: 'P400D',
  REPLAY_SYNC_MAX: 'P7DT2H',
  REPLAY_CHUNK: 'PT6H',
};
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService(env);
});
afterAll(async () => {
  await svc?.destroy();
});

const hour = 3600_000;
const iso = (ms: number) => new Date(ms).toISOString();
const ingest = async (events: unknown[]) => {
  const r = await svc.request('POST', '/v1/events/ingest', { body: { events } });
  expect(r.status).toBe(200);
  return r.body;
};
const replay = (body: Record<string, unknown>) => svc.request('POST', '/v1/replay', { body });
const usageTotal = async (tenantId: string, metric: string, customerRef: string) =>
  (await svc.request('GET', `/v1/usage?tenantId=${tenantId}&metric=${metric}&customerRef=${customerRef}`)).body.total;
const metricValue = async (name: string) => {
  const text = (await svc.request('GET', '/metrics', { key: null })).body as string;
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
};
const push = async (tenantId: string) => (await svc.request('POST', '/v1/push/run', { body: { tenantId } })).body;

const tenantWithStripe = (id: string, metric: string, customers: string[]) => tenantWithMeter(svc, id, metric, customers);

/** Counters agree with the stored events (FINAL), cell by cell: the invariant replay restores. */
async function countersMatchEvents(tenantId: string) {
  const rs = await svc.deps.storage.api.query({
    query: `SELECT
      (SELECT toString(sum(quantity)) FROM events FINAL WHERE tenant_id = {t:String} AND (beyond_window = 0 OR idempotency_key IN (SELECT idempotency_key FROM replayed_events WHERE tenant_id = {t:String}))) AS stored,
      (SELECT toString(count()) FROM events FINAL WHERE tenant_id = {t:String} AND (beyond_window = 0 OR idempotency_key IN (SELECT idempotency_key FROM replayed_events WHERE tenant_id = {t:String}))) AS storedEvents,
      (SELECT toString(sum(quantity)) FROM usage_hourly_counters WHERE tenant_id = {t:String}) AS hourly,
      (SELECT toString(sum(events)) FROM usage_hourly_counters WHERE tenant_id = {t:String}) AS hourlyEvents,
      (SELECT toString(sum(quantity)) FROM usage_period_counters WHERE tenant_id = {t:String}) AS period`,
    query_params: { t: tenantId },
    format: 'JSONEachRow',
  });
  const [row] = (await rs.json()) as Array<Record<string, string>>;
  expect(row!.hourly).toBe(row!.stored);
  expect(row!.period).toBe(row!.stored);
  expect(row!.hourlyEvents).toBe(row!.storedEvents);
}

describe('late events', () => {
  it('counts a late event inside the window and reports it as a re-aggregation', async () => {
    const before = await metricValue('reaggregations_total{reason="late_event"}');
    const now = Date.now();
    await ingest([event({ metric: 'late_in', customerRef: 'a', quantity: 10, ts: iso(now) })]);
    const r = await ingest([event({ metric: 'late_in', customerRef: 'a', quantity: 2, ts: iso(now - 30 * hour) })]);
    expect(r.results[0]).toMatchObject({ status: 'accepted', lateness: 'late' });
    expect(await usageTotal('demo', 'late_in', 'a')).toBe('12');
    expect(await metricValue('reaggregations_total{reason="late_event"}')).toBe(before + 1);
  });

  it('flags an event beyond the window; replay apply counts it and the next push sends the delta', async () => {
    const { stripeTotal } = await tenantWithStripe('lt', 'calls', ['c1']);
    const now = Date.now();
    await ingest([event({ tenantId: 'lt', metric: 'calls', customerRef: 'c1', quantity: 100, ts: iso(now - hour) })]);
    expect((await push('lt')).acked).toBe(1);
    expect(stripeTotal('c1')).toBe(100);
    const lateTs = iso(now - 3 * 86_400_000);
    const r = await ingest([event({ tenantId: 'lt', metric: 'calls', customerRef: 'c1', quantity: '7.5', ts: lateTs, idempotencyKey: 'late-1' })]);
    expect(r.results[0]).toMatchObject({ status: 'accepted', lateness: 'beyond_window' });
    expect(await usageTotal('lt', 'calls', 'c1')).toBe('100');
    expect(await metricValue('late_events_beyond_window_total{tenant="lt"}')).toBe(1);
    const flagged = await svc.request('GET', `/v1/events?tenantId=lt&lateness=beyond&since=${iso(now - 4 * 86_400_000)}`);
    expect(flagged.body.events.map((e: any) => [e.idempotencyKey, e.lateness])).toEqual([['late-1', 'beyond_window']]);

    const dry = await replay({ tenantId: 'lt', metrics: ['calls'], since: '-P4D', until: 'now', mode: 'dry-run' });
    expect(dry.status).toBe(200);
    expect(dry.body.status).toBe('succeeded');
    expect(dry.body.result.items).toEqual([
      expect.objectContaining({ customerRef: 'c1', before: '100', after: '107.5', delta: '7.5', lateEvents: 1, duplicateEvents: 0, stripeDelta: 7, eventsScanned: 2 }),
    ]);
    expect(dry.body.request.window.effective.since.endsWith(':00:00.000Z')).toBe(true);
    expect(await usageTotal('lt', 'calls', 'c1')).toBe('100'); // a dry-run changes nothing

    const apply = await replay({ tenantId: 'lt', metrics: ['calls'], since: '-P4D', until: 'now', mode: 'apply' });
    expect(apply.body.result.summary).toMatchObject({ changed: 1, delta: '7.5', stripeDelta: 7, lateEvents: 1 });
    expect(await usageTotal('lt', 'calls', 'c1')).toBe('107.5');
    const again = await replay({ tenantId: 'lt', metrics: ['calls'], since: '-P4D', until: 'now', mode: 'apply' });
    expect(again.body.result.summary).toMatchObject({ changed: 0, delta: '0', stripeDelta: 0, lateEvents: 0 });
    expect(again.body.result.correctionsWritten).toBe(0);
    expect(await usageTotal('lt', 'calls', 'c1')).toBe('107.5');
    const replayed = await svc.request('GET', `/v1/events?tenantId=lt&lateness=replayed&since=${iso(now - 4 * 86_400_000)}`);
    expect(replayed.body.events.map((e: any) => e.idempotencyKey)).toEqual(['late-1']);
    const stillLate = await svc.request('GET', `/v1/events?tenantId=lt&lateness=beyond&since=${iso(now - 4 * 86_400_000)}`);
    expect(stillLate.body.events).toEqual([]);
    // The analysts' view names the replay that counted it.
    const rs = await svc.deps.storage.api.query({ query: "SELECT lateness, replay_id FROM late_events WHERE tenant_id = 'lt'", format: 'JSONEachRow' });
    expect(await rs.json()).toEqual([{ lateness: 'replayed', replay_id: apply.body.id }]);

    expect((await push('lt')).unitsPushed).toBe(7);
    expect(stripeTotal('c1')).toBe(107);
    await countersMatchEvents('lt');

    const run = await svc.request('GET', `/v1/replay/${apply.body.id}`);
    expect(run.body).toMatchObject({ id: apply.body.id, status: 'succeeded', progress: 1, mode: 'apply' });
  });
});

describe('reading a window', () => {
  it("reads the window's granules of events (time-ordered) and of the hourly counters (projection), not the whole month", async () => {
    const now = Date.now();
    // 40,000 events over 30 days, 50 customers: several granules, a day of them in one.
    await svc.deps.storage.api.command({
      query: `INSERT INTO events (tenant_id, idempotency_key, metric, customer_ref, quantity, ts, period, payload_hash)
        SELECT 'demo', concat('proj-', toString(number)), 'proj', concat('c', toString(number % 50)), 1,
          fromUnixTimestamp64Milli({now:Int64} - number * 64800, 'UTC'), '2026-11', 'aaaaaaaaaaaaaaaa'
        FROM numbers(40000)`,
      query_params: { now },
    });
    const params = {
      tenantId: 'demo',
      metrics: ['proj'],
      customerRefs: [],
      start: toClickHouseTime(now - 24 * hour),
      end: toClickHouseTime(now),
      replayId: 'x',
    };
    const plan = async (sql: string) => {
      const rs = await svc.deps.storage.api.query({ query: `EXPLAIN projections = 1, indexes = 1 ${sql}`, query_params: params, format: 'JSONEachRow' });
      return (await rs.json<{ explain: string }>()).map((r) => r.explain).join('\n');
    };
    // Granules the primary key keeps of the events table's read, out of those it looked at.
    const eventGranules = (explain: string) => {
      const read = explain.slice(explain.indexOf('ReadFromMergeTree (default.events)')).replace(/[│├└─]/g, ' ');
      const m = /PrimaryKey[\s\S]*?Keys:\s+tenant_id\s+toStartOfHour\(ts\)[\s\S]*?Granules: (\d+)\/(\d+)/.exec(read);
      return m ? { kept: Number(m[1]), of: Number(m[2]) } : undefined;
    };
    const diff = await plan(loadSql('replay/stage_cells').replace(/^[\s\S]*?\nSELECT/, 'SELECT'));
    const diffGranules = eventGranules(diff);
    expect(diffGranules!.kept).toBeLessThan(diffGranules!.of / 2);
    expect(diff).toMatch(/ReadFromMergeTree \(hourly_counters_by_time\)/);
    const markSelect = loadSql('replay/mark_replayed').replace(/^[\s\S]*?\nSELECT/, 'SELECT');
    const markGranules = eventGranules(await plan(markSelect));
    expect(markGranules!.kept).toBeLessThan(markGranules!.of / 2);
    // Without a time condition the primary key keeps every granule: the check can fail.
    const whole = eventGranules(await plan("SELECT count() FROM events WHERE tenant_id = 'demo'"));
    expect(whole?.kept ?? Infinity).not.toBeLessThan((whole?.of ?? 0) / 2);
  });
});

describe('duplicates that slipped past dedupe', () => {
  it('are found by a dry-run, removed from the counters by apply, and Stripe gets a negative correction', async () => {
    const { stripeTotal } = await tenantWithStripe('dup', 'calls', ['c1']);
    const ts = iso(Date.now() - 2 * hour);
    await ingest([
      event({ tenantId: 'dup', metric: 'calls', customerRef: 'c1', quantity: 40, ts, idempotencyKey: 'e1' }),
      event({ tenantId: 'dup', metric: 'calls', customerRef: 'c1', quantity: 5, ts, idempotencyKey: 'e2' }),
    ]);
    // A bug: the same event inserted again straight into the table; the counters' views count it a second time.
    await svc.deps.storage.ingest.command({
      query: "INSERT INTO events SELECT * REPLACE (now64(3) AS ingested_at) FROM events WHERE tenant_id = 'dup' AND idempotency_key = 'e2'",
    });
    expect(await usageTotal('dup', 'calls', 'c1')).toBe('50');
    await push('dup');
    expect(stripeTotal('c1')).toBe(50);

    const dry = await replay({ tenantId: 'dup', metrics: ['calls'], since: '-PT24H', until: 'now', mode: 'dry-run' });
    expect(dry.body.result.items[0]).toMatchObject({ before: '50', after: '45', delta: '-5', duplicateEvents: 1, eventsScanned: 2, stripeDelta: -5, eventsDelta: -1 });
    const apply = await replay({ tenantId: 'dup', metrics: ['calls'], since: '-PT24H', until: 'now', mode: 'apply' });
    expect(apply.body.result.summary).toMatchObject({ duplicateEvents: 1, delta: '-5' });
    expect(await usageTotal('dup', 'calls', 'c1')).toBe('45');
    expect((await push('dup')).unitsPushed).toBe(-5);
    expect(stripeTotal('c1')).toBe(45);
    await countersMatchEvents('dup');
  });
});

describe('replay requests', () => {
  it('refuses bad windows, unknown metrics and tenants with clear errors', async () => {
    const base = { tenantId: 'demo', metrics: ['late_in'], mode: 'dry-run' };
    const cases: Array<[Record<string, unknown>, number, RegExp]> = [
      [{ ...base, since: '2026-01-02T00:00:00Z', until: '2026-01-01T00:00:00Z' }, 400, /since must be before until/],
      [{ ...base, since: '-PT24X' }, 400, /since must be a negative ISO 8601 duration/],
      [{ ...base, since: 'yesterday' }, 400, /since must be a timestamp/],
      [{ ...base, since: '-PT1H', until: 'later' }, 400, /until must be "now"/],
      [{ ...base, since: '-P100D' }, 400, /REPLAY_MAX_WINDOW/],
      [{ ...base, since: '-PT1H', metrics: ['nope'] }, 400, /no usage or mapping for metric\(s\): nope/],
      [{ ...base, since: '-PT1H', metrics: [] }, 400, /at least one metric/],
      [{ ...base, since: '-PT1H', mode: 'go' }, 400, /mode/],
      [{ ...base, since: '-PT1H', tenantId: 'ghost' }, 404, /unknown tenant/],
    ];
    for (const [body, status, message] of cases) {
      const r = await replay(body);
      expect([r.status, r.body.error?.message]).toEqual([status, expect.stringMatching(message)]);
    }
    const readOnly = await svc.request('POST', '/v1/admin/api-keys', { body: { tenantId: 'demo', scopes: ['read'] } });
    const applyAsReader = await svc.request('POST', '/v1/replay', { body: { ...base, since: '-PT1H', mode: 'apply' }, key: readOnly.body.key });
    expect(applyAsReader.status).toBe(403);
    const dryAsReader = await svc.request('POST', '/v1/replay', { body: { ...base, since: '-PT1H' }, key: readOnly.body.key });
    expect(dryAsReader.status).toBe(200);
    expect((await svc.request('GET', '/v1/replay/rpl_0000000000000000')).status).toBe(404);
  });

  it('runs a long window as a job with progress', async () => {
    const r = await replay({ tenantId: 'demo', metrics: ['late_in'], since: '-P8D', until: 'now', mode: 'apply' });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(r.body).toMatchObject({ status: 'running', statusUrl: `/v1/replay/${r.body.id}` });
    let run;
    for (let i = 0; i < 100; i++) {
      run = (await svc.request('GET', r.body.statusUrl)).body;
      if (run.status !== 'running') break;
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(run).toMatchObject({ status: 'succeeded', progress: 1 });
  });
});

describe('an apply in chunks', () => {
  it('reports an item found in several chunks once, as the dry-run of the whole window does', async () => {
    await svc.request('POST', '/v1/admin/tenants', { body: { id: 'chunky' } });
    const now = Date.now();
    await ingest([event({ tenantId: 'chunky', metric: 'calls', customerRef: 'c1', quantity: 10, ts: iso(now - hour) })]);
    // Three events beyond the lateness window, in three different 6 h chunks (REPLAY_CHUNK=PT6H here).
    const late = [1, 8, 14].map((h, i) =>
      event({ tenantId: 'chunky', metric: 'calls', customerRef: 'c1', quantity: '0.4', ts: iso(now - 3 * 86_400_000 - h * hour), idempotencyKey: `chunk-${i}` }),
    );
    expect((await ingest(late)).results.map((r: any) => r.lateness)).toEqual(['beyond_window', 'beyond_window', 'beyond_window']);
    const body = { tenantId: 'chunky', metrics: ['calls'], since: '-P4D', until: 'now' };
    const dry = await replay({ ...body, mode: 'dry-run' });
    expect(dry.body.result.items).toEqual([
      expect.objectContaining({ customerRef: 'c1', lateEvents: 3, delta: '1.2', eventsScanned: 4, stripeDelta: expect.any(Number) }),
    ]);
    const apply = await replay({ ...body, mode: 'apply' });
    expect(apply.status).toBe(200);
    expect(apply.body.result.items).toEqual(dry.body.result.items);
    expect(apply.body.result.summary).toEqual(dry.body.result.summary);
    expect(apply.body.result.correctionsWritten).toBe(3);
    await countersMatchEvents('chunky');
  });
});

describe('apply under concurrent ingest', () => {
  it('serialises applies per tenant and loses or double-counts nothing', async () => {
    await svc.request('POST', '/v1/admin/tenants', { body: { id: 'busy' } });
    const now = Date.now();
    // Within the lateness window of the newest event, so every event counts at ingest.
    const at = (i: number) => iso(now - (i % 40) * hour);
    await ingest(Array.from({ length: 2000 }, (_, i) => event({ tenantId: 'busy', metric: 'm', customerRef: `c${i % 20}`, quantity: '1.5', ts: at(i), idempotencyKey: `pre${i}` })));
    // A duplicate the apply must remove, while new events keep arriving.
    await svc.deps.storage.ingest.command({
      query: "INSERT INTO events SELECT * REPLACE (now64(3) AS ingested_at) FROM events WHERE tenant_id = 'busy' AND idempotency_key = 'pre7'",
    });
    const applying = replay({ tenantId: 'busy', metrics: ['m'], since: '-PT48H', until: 'now', mode: 'apply' });
    await new Promise((r) => setTimeout(r, 20));
    const second = await replay({ tenantId: 'busy', metrics: ['m'], since: '-PT48H', until: 'now', mode: 'apply' });
    const ingests = Array.from({ length: 10 }, (_, b) =>
      ingest(Array.from({ length: 200 }, (_, i) => event({ tenantId: 'busy', metric: 'm', customerRef: `c${i % 20}`, quantity: '0.25', ts: at(b * 200 + i), idempotencyKey: `live${b}-${i}` }))),
    );
    const [first] = await Promise.all([applying, ...ingests]);
    expect(first.status).toBe(200);
    expect(first.body.result.summary.duplicateEvents).toBe(1);
    expect(second.status).toBe(409);
    expect(second.body.error.message).toContain(first.body.id);
    await countersMatchEvents('busy');
    const total = (await svc.request('GET', '/v1/usage?tenantId=busy&metric=m')).body.total;
    expect(total).toBe(String(2000 * 1.5 + 2000 * 0.25));
  });
});

describe('billing periods in a tenant time zone', () => {
  it('replays cells on both sides of a month end in a +05:30 zone', async () => {
    await svc.request('POST', '/v1/admin/tenants', { body: { id: 'kol', timezone: 'Asia/Kolkata' } });
    // 2026-10-31T18:15Z is 23:45 on Oct 31 in Kolkata; 18:45Z is 00:15 on Nov 1: one UTC hour, two periods.
    await ingest([
      event({ tenantId: 'kol', metric: 'm', customerRef: 'c', quantity: 3, ts: '2026-10-31T18:15:00Z', idempotencyKey: 'oct' }),
      event({ tenantId: 'kol', metric: 'm', customerRef: 'c', quantity: 4, ts: '2026-10-31T18:45:00Z', idempotencyKey: 'nov' }),
    ]);
    await svc.deps.storage.ingest.command({
      query: "INSERT INTO events SELECT * REPLACE (now64(3) AS ingested_at) FROM events WHERE tenant_id = 'kol'",
    });
    const period = async (p: string) => (await svc.request('GET', `/v1/usage?tenantId=kol&metric=m&period=${p}`)).body.total;
    expect([await period('2026-10'), await period('2026-11')]).toEqual(['6', '8']);
    const r = await replay({ tenantId: 'kol', metrics: ['m'], since: '2026-10-31T18:00:00Z', until: '2026-10-31T19:00:00Z', mode: 'apply' });
    expect(r.body.result.items.map((i: any) => [i.period, i.before, i.after, i.duplicateEvents])).toEqual([
      ['2026-10', '6', '3', 1],
      ['2026-11', '8', '4', 1],
    ]);
    expect([await period('2026-10'), await period('2026-11')]).toEqual(['3', '4']);
    await countersMatchEvents('kol');
  });
});
