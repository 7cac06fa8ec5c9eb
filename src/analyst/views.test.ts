import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { event, startTestService, type TestService } from '../../test/support/service.js';
import { migrate, migrationStatus, MigrationError, readMigrations } from '../storage/migrations.js';
import { migrationsDir, packageRoot } from '../storage/paths.js';
import { renderMigration } from '../storage/render.js';

const views = ['usage_hourly', 'usage_by_period', 'drift_latest', 'push_history', 'late_events'];

let svc: TestService;
let analystKey: string;
const scratch = mkdtempSync(path.join(os.tmpdir(), 'stripemeter-views-'));

beforeAll(async () => {
  // Fixed 2026 dates: keep them inside the retention. A one-hour lateness window makes late events easy to produce;
  // background push and reconciliation stay out of the way (the tests run them through the API).
  svc = await startTestService({ EVENT_RETENTION: 'P3650D', LATENESS_WINDOW: 'PT1H', PUSH_INTERVAL: 'PT1H', RECON_INTERVAL: 'PT1H' });
  for (const [id, timezone] of [['berlin', 'Europe/Berlin'], ['kolkata', 'Asia/Kolkata']]) {
    expect((await svc.request('POST', '/v1/admin/tenants', { body: { id, timezone } })).status).toBe(201);
  }
  const key = await svc.request('POST', '/v1/admin/api-keys', { body: { scopes: ['sql'], name: 'views' } });
  analystKey = key.body.key;
});
afterAll(async () => {
  await svc?.destroy();
  rmSync(scratch, { recursive: true, force: true });
});

async function ingest(events: unknown[]) {
  const r = await svc.request('POST', '/v1/events/ingest', { body: { events } });
  expect(r.status).toBe(200);
  expect(r.body.rejected, JSON.stringify(r.body.results)).toBe(0);
  return r.body;
}

async function sql(query: string, params: Record<string, unknown> = {}): Promise<Array<Record<string, any>>> {
  const r = await svc.request('POST', '/v1/sql', { key: analystKey, body: { query, params } });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  const names: string[] = r.body.columns.map((c: { name: string }) => c.name);
  return r.body.rows.map((row: unknown[]) => Object.fromEntries(names.map((n, i) => [n, row[i]])));
}

async function api(urlPath: string) {
  const r = await svc.request('GET', urlPath);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}

/** GET /v1/usage and the usage_by_period view, side by side. */
async function periodBoth(tenantId: string, metric: string, period: string) {
  const fromApi = await api(`/v1/usage?tenantId=${tenantId}&metric=${metric}&period=${period}`);
  const fromView = await sql(
    'SELECT customer_ref, quantity, events FROM usage_by_period WHERE tenant_id = {t:String} AND metric = {m:String} AND period = {p:String} ORDER BY customer_ref',
    { t: tenantId, m: metric, p: period },
  );
  return {
    api: fromApi.customers,
    view: fromView.map((r) => ({ customerRef: r.customer_ref, total: r.quantity, events: Number(r.events) })),
  };
}

/** GET /v1/usage/history?step=hour and the usage_hourly view, side by side. */
async function hourlyBoth(tenantId: string, metric: string, since: string, until: string, customerRef?: string) {
  const q = new URLSearchParams({ tenantId, metric, step: 'hour', since, until, ...(customerRef ? { customerRef } : {}) });
  const fromApi = await api(`/v1/usage/history?${q}`);
  const fromView = await sql(
    `SELECT formatDateTime(hour, '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS start, sum(quantity) AS total, sum(events) AS events
     FROM usage_hourly
     WHERE tenant_id = {t:String} AND metric = {m:String} AND ({c:String} = '' OR customer_ref = {c:String})
       AND hour >= parseDateTimeBestEffort({since:String}) AND hour < parseDateTimeBestEffort({until:String})
     GROUP BY start ORDER BY start`,
    { t: tenantId, m: metric, c: customerRef ?? '', since, until },
  );
  return { api: fromApi.buckets, view: fromView.map((r) => ({ start: r.start, total: r.total, events: Number(r.events) })) };
}

describe('usage views return what the usage API returns', () => {
  beforeAll(async () => {
    const e = (tenantId: string, customerRef: string, quantity: string | number, ts: string, key: string) =>
      event({ tenantId, metric: 'm_views', customerRef, quantity, ts, idempotencyKey: key });
    await ingest([
      e('demo', 'cus_a', '1.25', '2026-02-28T23:10:00Z', 'd1'),
      e('demo', 'cus_a', '2.5', '2026-03-01T00:10:00Z', 'd2'),
      e('demo', 'cus_a', '0.000001', '2026-03-01T00:50:00Z', 'd3'),
      e('demo', 'cus_b', 7, '2026-03-01T00:20:00Z', 'd4'),
      // The largest quantity an event may carry: a float would round it to 10^15.
      e('demo', 'cus_b', '999999999999999.999999', '2026-03-02T10:00:00Z', 'd5'),
      // Berlin: 2026-02-28T23:00Z is local midnight of 1 March, so these two fall in different periods than in UTC.
      e('berlin', 'cus_a', 3, '2026-02-28T22:30:00Z', 'b1'),
      e('berlin', 'cus_a', 4, '2026-02-28T23:30:00Z', 'b2'),
      // Kolkata (+05:30): 1 March starts at 2026-02-28T18:30Z, in the middle of a UTC hour: one hour, two periods.
      e('kolkata', 'cus_k', 5, '2026-02-28T18:10:00Z', 'k1'),
      e('kolkata', 'cus_k', 6, '2026-02-28T18:40:00Z', 'k2'),
      e('kolkata', 'cus_k', 1, '2026-02-28T19:05:00Z', 'k3'),
    ]);
  });

  it('usage_by_period = GET /v1/usage, per tenant, period and customer, with exact decimals', async () => {
    const expected: Record<string, Record<string, string>> = {
      demo: { '2026-02': '1.25', '2026-03': '1000000000000009.5' },
      berlin: { '2026-02': '3', '2026-03': '4' },
      kolkata: { '2026-02': '5', '2026-03': '7' },
    };
    for (const [tenant, periods] of Object.entries(expected)) {
      for (const period of ['2026-01', '2026-02', '2026-03']) {
        const both = await periodBoth(tenant, 'm_views', period);
        expect(both.view, `${tenant} ${period}`).toEqual(both.api);
        const total = both.api.reduce((sum: number, c: { events: number }) => sum + c.events, 0);
        expect(total > 0, `${tenant} ${period}`).toBe(period in periods);
      }
    }
    expect((await periodBoth('demo', 'm_views', '2026-03')).view).toEqual([
      { customerRef: 'cus_a', total: '2.500001', events: 2 },
      { customerRef: 'cus_b', total: '1000000000000006.999999', events: 2 },
    ]);
  });

  it('usage_hourly = GET /v1/usage/history?step=hour, also for an hour split between two periods', async () => {
    for (const tenant of ['demo', 'berlin', 'kolkata']) {
      const both = await hourlyBoth(tenant, 'm_views', '2026-02-28T00:00:00Z', '2026-03-03T00:00:00Z');
      expect(both.view, tenant).toEqual(both.api);
      expect(both.api.length, tenant).toBeGreaterThan(0);
    }
    const split = await hourlyBoth('kolkata', 'm_views', '2026-02-28T18:00:00Z', '2026-02-28T19:00:00Z');
    expect(split.view).toEqual([{ start: '2026-02-28T18:00:00Z', total: '11', events: 2 }]);
    expect(split.api).toEqual(split.view);
    const one = await hourlyBoth('demo', 'm_views', '2026-03-01T00:00:00Z', '2026-03-02T00:00:00Z', 'cus_a');
    expect(one.view).toEqual([{ start: '2026-03-01T00:00:00Z', total: '2.500001', events: 2 }]);
    expect(one.api).toEqual(one.view);
    // One row per (tenant, metric, customer, hour), whatever the parts and periods underneath.
    const dupes = await sql(
      "SELECT tenant_id, customer_ref, hour, count() AS n FROM usage_hourly WHERE metric = 'm_views' GROUP BY ALL HAVING n > 1",
    );
    expect(dupes).toEqual([]);
  });
});

describe('late_events', () => {
  it('lists events beyond the lateness window, and shows them replayed once a replay counted them', async () => {
    await ingest([event({ metric: 'm_late', customerRef: 'cus_l', quantity: 2, ts: '2026-03-10T12:00:00Z', idempotencyKey: 'l-now' })]);
    const late = await ingest([event({ metric: 'm_late', customerRef: 'cus_l', quantity: 5, ts: '2026-03-10T09:00:00Z', idempotencyKey: 'l-late' })]);
    expect(late.results[0].lateness).toBe('beyond_window');

    const listed = async () =>
      sql("SELECT idempotency_key, customer_ref, quantity, toString(ts) AS ts, period, lateness FROM late_events WHERE tenant_id = 'demo' AND metric = 'm_late'");
    expect(await listed()).toEqual([
      { idempotency_key: 'l-late', customer_ref: 'cus_l', quantity: '5', ts: '2026-03-10 09:00:00.000', period: '2026-03', lateness: 'beyond_window' },
    ]);
    const beyond = await api('/v1/events?tenantId=demo&metric=m_late&lateness=beyond&since=2026-03-10T00:00:00Z&until=2026-03-11T00:00:00Z');
    expect(beyond.events.map((e: { idempotencyKey: string }) => e.idempotencyKey)).toEqual(['l-late']);
    // Not counted: the views agree with the API, which does not count it either.
    let both = await periodBoth('demo', 'm_late', '2026-03');
    expect(both.view).toEqual(both.api);
    expect(both.api).toEqual([{ customerRef: 'cus_l', total: '2', events: 1 }]);

    const replay = await svc.request('POST', '/v1/replay', {
      body: { tenantId: 'demo', metrics: ['m_late'], since: '2026-03-10T00:00:00Z', until: '2026-03-11T00:00:00Z', mode: 'apply' },
    });
    expect(replay.status, JSON.stringify(replay.body)).toBe(200);
    expect((await listed()).map((r) => [r.idempotency_key, r.lateness])).toEqual([['l-late', 'replayed']]);
    both = await periodBoth('demo', 'm_late', '2026-03');
    expect(both.view).toEqual(both.api);
    expect(both.api).toEqual([{ customerRef: 'cus_l', total: '7', events: 2 }]);
    const hourly = await hourlyBoth('demo', 'm_late', '2026-03-10T00:00:00Z', '2026-03-11T00:00:00Z');
    expect(hourly.view).toEqual(hourly.api);
    expect(hourly.view.map((b) => b.start)).toEqual(['2026-03-10T09:00:00Z', '2026-03-10T12:00:00Z']);
  });
});

describe('push_history and drift_latest', () => {
  it('push_history holds every acknowledged push: their values add up to what GET /v1/push/status reports as pushed', async () => {
    await ingest([1, 2, 3].map((i) => event({ metric: 'requests', customerRef: `cus_${i}`, quantity: i * 10, idempotencyKey: `push-${i}` })));
    const run = await svc.request('POST', '/v1/push/run', { body: { tenantId: 'demo' } });
    expect(run.status, JSON.stringify(run.body)).toBe(200);
    expect(run.body.acked).toBe(3);
    const status = await api('/v1/push/status?tenantId=demo');
    const pushed = status.items
      .filter((i: { pushedTotal: number }) => i.pushedTotal !== 0)
      .map((i: any) => ({ metric: i.metric, customer_ref: i.customerRef, period: i.period, pushed: String(i.pushedTotal) }));
    expect(pushed.length).toBe(3);
    const history = await sql(
      "SELECT metric, customer_ref, period, toString(sum(value)) AS pushed FROM push_history WHERE tenant_id = 'demo' AND status = 'acked' GROUP BY metric, customer_ref, period ORDER BY customer_ref",
    );
    expect(history).toEqual(pushed.sort((a: any, b: any) => a.customer_ref.localeCompare(b.customer_ref)));
    const rows = await sql("SELECT identifier, status, attempts, stripe_customer_id FROM push_history WHERE tenant_id = 'demo'");
    expect(new Set(rows.map((r) => r.identifier)).size).toBe(rows.length);
    for (const r of rows) expect(r).toMatchObject({ status: 'acked', attempts: 1, stripe_customer_id: expect.stringMatching(/^cus_/) });
  });

  it('drift_latest has one row per item, from the latest reconciliation run, NULLs kept', async () => {
    // Usage of a metric without a meter: reconciliation reports it unmapped, with no Stripe total.
    await ingest([event({ metric: 'm_unmapped', customerRef: 'cus_u', quantity: 4, idempotencyKey: 'u-1' })]);
    const first = await svc.request('POST', '/v1/reconciliation/run', { body: { tenantId: 'demo' } });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    const before = first.body.items.find((i: any) => i.metric === 'requests' && i.customerRef === 'cus_1');
    expect(before.stripe).toBe('10');
    // Without its meter the item's Stripe total is unknown at the next run: the latest report holds NULL.
    expect((await svc.request('DELETE', '/v1/mappings/demo/requests')).status).toBe(200);
    const second = await svc.request('POST', '/v1/reconciliation/run', { body: { tenantId: 'demo' } });
    expect(second.status).toBe(200);
    const run = second.body;
    expect(run.id).not.toBe(first.body.id);
    expect(run.items.length).toBeGreaterThanOrEqual(4);

    const latest = await sql(
      "SELECT metric, customer_ref, period, run_id, status, local_total, stripe_total, pushed_total, diff_abs, causes FROM drift_latest WHERE tenant_id = 'demo' ORDER BY metric, customer_ref, period",
    );
    const fromRun = run.items
      .map((i: any) => ({
        metric: i.metric,
        customer_ref: i.customerRef,
        period: i.period,
        run_id: run.id,
        status: i.status,
        local_total: i.local,
        stripe_total: i.stripe,
        pushed_total: String(i.pushed),
        diff_abs: i.diffAbs,
      }))
      .sort((a: any, b: any) => `${a.metric} ${a.customer_ref} ${a.period}`.localeCompare(`${b.metric} ${b.customer_ref} ${b.period}`));
    expect(latest.map(({ causes, ...rest }) => rest)).toEqual(fromRun);
    const unmapped = latest.find((r) => r.metric === 'm_unmapped')!;
    expect(unmapped).toMatchObject({ status: 'unmapped', stripe_total: null, diff_abs: null });
    // Not the older run's '10': argMax over one tuple keeps the latest NULL.
    expect(latest.find((r) => r.metric === 'requests' && r.customer_ref === 'cus_1')).toMatchObject({ stripe_total: null, local_total: '10' });
    expect(JSON.parse(latest.find((r) => r.customer_ref === 'cus_1')!.causes)).toEqual(expect.any(Array));
  });
});

describe('meter_usage_hourly', () => {
  it('= GET /v1/usage/query per hour, customer and dimension, for a sum and a distinct count', async () => {
    for (const body of [
      { tenantId: 'demo', metric: 'm_dim_sum', aggregation: 'sum', dimensions: ['region'] },
      { tenantId: 'demo', metric: 'm_dim_users', aggregation: 'unique_count', uniqueBy: 'user', dimensions: ['region'] },
    ]) {
      expect((await svc.request('POST', '/v1/meters', { body })).status).toBe(201);
    }
    const sent = [
      ['cus_a', '2026-03-05T10:10:00Z', '1.5', 'u1', 'eu'],
      ['cus_a', '2026-03-05T10:20:00Z', '2', 'u1', 'eu'],
      ['cus_a', '2026-03-05T10:30:00Z', '4', 'u2', 'us'],
      ['cus_b', '2026-03-05T11:00:00Z', '8', 'u3', 'eu'],
    ] as const;
    await ingest(
      ['m_dim_sum', 'm_dim_users'].flatMap((metric) =>
        sent.map(([customerRef, ts, quantity, user, region], i) => event({ metric, customerRef, ts, quantity, idempotencyKey: `${metric}-${i}`, meta: { user, region } })),
      ),
    );
    for (const metric of ['m_dim_sum', 'm_dim_users']) {
      const q = new URLSearchParams({ tenantId: 'demo', metric, window: 'PT1H', from: '2026-03-05T10:00:00Z', to: '2026-03-05T12:00:00Z', groupBy: 'customerRef,region' });
      const fromApi = (await api(`/v1/usage/query?${q}`)).rows.map((r: any) => [r.windowStart.replace('.000Z', 'Z'), r.customerRef, r.dimensions.region, r.value]);
      const fromView = await sql(
        "SELECT formatDateTime(hour, '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS h, customer_ref, dimensions['region'] AS region, toString(value) AS v FROM meter_usage_hourly WHERE tenant_id = 'demo' AND metric = {m:String} ORDER BY h, customer_ref, region",
        { m: metric },
      );
      expect(fromView.map((r) => [r.h, r.customer_ref, r.region, r.v])).toEqual(fromApi);
    }
  });
});

describe('docs/analysts.md', () => {
  it('has example queries that run (and server-side DDL that analyst SQL refuses)', async () => {
    const doc = readFileSync(path.join(packageRoot, 'docs', 'analysts.md'), 'utf8');
    const blocks = [...doc.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(11);
    for (const query of blocks) {
      const r = await svc.request('POST', '/v1/sql', { key: analystKey, body: { query } });
      if (/^\s*CREATE /m.test(query.replace(/--.*$/gm, ''))) expect(r.body.error?.code, query).toBe('sql_refused');
      else expect(r.status, `${query}\n${JSON.stringify(r.body)}`).toBe(200);
    }
  });
});

describe('the views migration', () => {
  it('creates every view from its file in migrations/includes/views/ (the one source)', async () => {
    const m = readMigrations().find((x) => x.name === 'create_analyst_views')!;
    expect(m.version).toBe(12);
    for (const v of views) expect(m.sql).toContain(`CREATE OR REPLACE VIEW ${v} {{on_cluster}} AS`);
    // Through a service connection: system tables are not among what analysts read.
    const rs = await svc.deps.storage.api.query({
      query: "SELECT name, engine FROM system.tables WHERE database = currentDatabase() AND engine = 'View' ORDER BY name",
      format: 'JSONEachRow',
    });
    const created = await rs.json<{ name: string }>();
    // ...the meters' view (migration 0033) and the replay's parameterized view (migration 0016), which analysts may call too.
    expect(created.map((t) => t.name)).toEqual([...views, 'meter_usage_hourly', 'replay_window_cells'].sort());
    // On a cluster: ON CLUSTER, reading the Distributed tables (plain names), never a shard's part.
    const rendered = renderMigration(m.sql, { cluster: 'main' });
    expect(rendered.map((s) => /CREATE OR REPLACE VIEW (\w+) ON CLUSTER `main` AS/.exec(s)?.[1])).toEqual(views);
    for (const s of rendered) expect(s).not.toMatch(/_local\b/);
  });

  it('refuses to run when an included view file changed after the migration ran, like an edited migration', async () => {
    const migrations = path.join(scratch, 'edited');
    // The copy carries its includes (migrations/includes/).
    cpSync(migrationsDir, migrations, { recursive: true });
    const jobs = svc.deps.storage.jobs;
    // Unchanged copies match what ran.
    expect(readMigrations(migrations).map((m) => m.checksum)).toEqual(readMigrations().map((m) => m.checksum));
    expect((await migrate(jobs, {}, readMigrations(migrations))).applied).toEqual([]);

    appendFileSync(path.join(migrations, 'includes', 'views', 'late_events.sql'), '-- an innocent-looking comment\n');
    const edited = readMigrations(migrations);
    await expect(migrate(jobs, {}, edited)).rejects.toThrow(MigrationError);
    await expect(migrate(jobs, {}, edited)).rejects.toThrow(/edited after they ran: 0012_create_analyst_views\b/);
    expect((await migrationStatus(jobs, edited)).edited).toEqual(['0012_create_analyst_views']);
    // The real files still match.
    expect((await migrationStatus(jobs)).edited).toEqual([]);
  });

  it('refuses an include that is missing, outside migrations/includes/, or nested', () => {
    const migrations = path.join(scratch, 'bad-includes');
    const includes = path.join(migrations, 'includes');
    cpSync(migrationsDir, migrations, { recursive: true });
    const attempt = (line: string) => {
      writeFileSync(path.join(migrations, '9000_create_x.sql'), `-- test\n${line}\n`);
      return () => readMigrations(migrations);
    };
    expect(attempt('{{include:views/nope.sql}}')).toThrow(/9000_create_x\.sql: \{\{include:views\/nope\.sql\}\}: no such file/);
    expect(attempt('{{include:../0001_create_tenants.sql}}')).toThrow(/must name a \.sql file under migrations\/includes\//);
    expect(attempt('{{include:../../sql/tenants/get_tenant.sql}}')).toThrow(/must name a \.sql file under migrations\/includes\//);
    expect(attempt('{{include:/etc/passwd}}')).toThrow(/must name a \.sql file under migrations\/includes\//);
    writeFileSync(path.join(includes, 'views', 'nested.sql'), '{{include:views/usage_hourly.sql}}\n');
    expect(attempt('{{include:views/nested.sql}}')).toThrow(/includes do not nest/);
    writeFileSync(path.join(includes, 'views', 'plain.sql'), 'CREATE OR REPLACE VIEW plain {{on_cluster}} AS SELECT 1\n-- no semicolon');
    const ok = attempt('{{include:views/plain.sql}}')().find((m) => m.version === 9000)!;
    expect(renderMigration(ok.sql, {})).toEqual(['-- test\nCREATE OR REPLACE VIEW plain  AS SELECT 1\n-- no semicolon']);
  });
});
