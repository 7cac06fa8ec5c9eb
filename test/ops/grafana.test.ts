import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { event, startTestService, type TestService } from '../support/service.js';
import {
  alertRules,
  dashboardProviders,
  dashboards,
  datasourceRefs,
  expandClickHouseMacros,
  panelsOf,
  paths,
  provisionedDatasources,
  runbookFileStep2Queries,
  runbookStep2Queries,
  targetsOf,
  type Target,
} from './prometheus-files.js';
import { startPrometheus, type PrometheusServer } from './prometheus-server.js';

const all = dashboards();
const targets = all.flatMap(targetsOf);
const promExprs = targets.filter((t) => t.expr !== undefined);
const sqlTargets = targets.filter((t) => t.rawSql !== undefined);
const datasources = provisionedDatasources();
const step2 = [...new Set([...runbookStep2Queries, ...runbookFileStep2Queries()])];

describe('grafana provisioning', () => {
  it('provisions Prometheus (default) and ClickHouse datasources with fixed uids', () => {
    expect(datasources.map((d) => d.uid).sort()).toEqual(['clickhouse', 'prometheus']);
    expect(datasources.find((d) => d.uid === 'prometheus')).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090', isDefault: true });
    const ch = datasources.find((d) => d.uid === 'clickhouse')!;
    expect(ch.isDefault ?? false).toBe(false);
    expect(ch).toMatchObject({
      type: 'grafana-clickhouse-datasource',
      jsonData: {
        host: 'clickhouse',
        port: 8123,
        protocol: 'http',
        // the compose stacks' ClickHouse replaces its `default` user with CLICKHOUSE_USER
        username: '${CLICKHOUSE_USER}',
        defaultDatabase: '${CLICKHOUSE_DATABASE}',
      },
      secureJsonData: { password: '${CLICKHOUSE_PASSWORD}' },
    });
  });

  it('loads the dashboards from /var/lib/grafana/dashboards', () => {
    expect(dashboardProviders()).toEqual([expect.objectContaining({ type: 'file', options: expect.objectContaining({ path: '/var/lib/grafana/dashboards' }) })]);
  });

  it('has the three dashboards', () => {
    expect(all.map((d) => d.json.title).sort()).toEqual(['Ingest and API', 'Reconciliation drift', 'Stripe push']);
    expect(new Set(all.map((d) => d.json.uid)).size).toBe(all.length);
  });

  it.each(all.map((d) => [d.file, d] as const))('%s: schema, unique panel ids, known datasources, queries on every panel', (_file, d) => {
    expect(d.json.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(d.json.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    const panels = panelsOf(d);
    expect(panels.length).toBeGreaterThan(5);
    const ids = panels.map((p) => p.id);
    expect(ids.every((id) => Number.isInteger(id) && id > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    const known = new Map(datasources.map((ds) => [ds.uid, ds.type]));
    for (const ref of datasourceRefs(d.json)) {
      expect(known.has(ref.uid ?? ''), JSON.stringify(ref)).toBe(true);
      if (ref.type) expect(ref.type).toBe(known.get(ref.uid!));
    }
    for (const p of panels.filter((p) => p.type !== 'row')) {
      expect(p.title, `panel ${p.id}`).toBeTruthy();
      expect(p.targets?.length, `panel ${p.id} ${p.title}`).toBeGreaterThan(0);
      for (const t of p.targets!) {
        const uid = t.datasource?.uid ?? p.datasource?.uid;
        if (uid === 'prometheus') expect(t.expr, `${p.title} ${t.refId}`).toBeTruthy();
        else expect(t.rawSql, `${p.title} ${t.refId}`).toBeTruthy();
      }
    }
  });

  it('has every Prometheus query of the runbook step 2 verbatim as a panel query', () => {
    const exprs = new Set(promExprs.map((t) => t.expr));
    expect(step2.length).toBeGreaterThanOrEqual(runbookStep2Queries.length);
    expect(step2.filter((q) => !exprs.has(q))).toEqual([]);
  });

  it('reads the latest drift reports from reconciliation_reports within the time range', () => {
    const recon = all.find((d) => d.json.title === 'Reconciliation drift')!;
    expect(targetsOf(recon).some((t) => t.rawSql?.includes('FROM reconciliation_reports') && t.rawSql.includes('$__timeFilter(created_at)'))).toBe(true);
  });
});

describe('every query against the real service', () => {
  let svc: TestService;
  let prom: PrometheusServer;
  const rules = alertRules();
  let metricsText = '';

  beforeAll(async () => {
    svc = await startTestService({ STRIPE_SANDBOX_PORT: '0', RECON_SETTLE: 'PT0S' });
    prom = await startPrometheus({ target: `127.0.0.1:${svc.port}`, job: 'stripemeter-api', ruleFiles: [paths.alerts] });

    const ok = async (method: string, p: string, body?: unknown) => {
      const r = await svc.request(method, p, { body });
      expect(r.status, `${method} ${p}: ${JSON.stringify(r.body)}`).toBeLessThan(300);
      return r.body;
    };
    const now = Date.now();
    const iso = (ms: number) => new Date(ms).toISOString();
    const day = 86_400_000;
    let n = 0;
    const ingest = (events: Array<Record<string, unknown>>) => ok('POST', '/v1/events/ingest', { events: events.map((e) => event({ idempotencyKey: `ops-${n++}`, ...e })) });

    // the demo metric as a sum meter with a dimension, for the usage-by-dimension panel (pushed as any sum)
    await ok('POST', '/v1/meters', { tenantId: 'demo', metric: 'requests', aggregation: 'sum', dimensions: ['model'] });
    // cus_3 first uses a period closed more than 35 days ago: Stripe cannot take it (unpushable)
    await ingest([{ customerRef: 'cus_3', quantity: 5, ts: iso(now - 70 * day) }]);
    await ingest([
      { customerRef: 'cus_1', quantity: 10 },
      { customerRef: 'cus_2', quantity: 20 },
    ]);
    // late inside the lateness window (re-aggregation), then beyond it (stored, not counted)
    expect((await ingest([{ customerRef: 'cus_1', quantity: 1, ts: iso(now - 3_600_000) }])).results[0].lateness).toBe('late');
    expect((await ingest([{ customerRef: 'cus_1', quantity: 1, ts: iso(now - 3 * day) }])).results[0].lateness).toBe('beyond_window');
    // a duplicate, a rejected event, and a request refused with 401
    await ok('POST', '/v1/events/ingest', { events: [event({ idempotencyKey: 'ops-0', customerRef: 'cus_3', quantity: 5, ts: iso(now - 70 * day) })] });
    expect((await ok('POST', '/v1/events/ingest', { events: [event({ quantity: -1 })] })).rejected).toBe(1);
    expect((await svc.request('POST', '/v1/events/ingest', { body: { events: [event()] }, key: null })).status).toBe(401);

    const push = await ok('POST', '/v1/push/run', { tenantId: 'demo' });
    expect(push.unpushable.units).toBeGreaterThan(0);
    // usage added on Stripe's side: cus_2 drifts beyond epsilon (and by more than 100 units)
    const [cus2] = (await ok('GET', '/v1/customers?tenantId=demo&customerRef=cus_2')).customers;
    await svc.deps.stripe.client.billing.meterEvents.create({
      event_name: 'stripemeter_demo_requests',
      payload: { stripe_customer_id: cus2.stripeCustomerId, value: '500' },
    });
    await ok('POST', '/v1/reconciliation/run', { tenantId: 'demo' });

    // two more rounds a few scrapes apart, so rates and increases see samples on both sides
    for (let round = 0; round < 2; round++) {
      await new Promise((r) => setTimeout(r, 1500));
      await ingest([{ customerRef: 'cus_1', quantity: 2 }]);
      await ok('POST', '/v1/push/run', { tenantId: 'demo' });
      const run = await ok('POST', '/v1/reconciliation/run', { tenantId: 'demo' });
      expect(run.status).toBe('succeeded');
    }
    metricsText = (await svc.request('GET', '/metrics', { key: null })).body as string;

    // wait until Prometheus has the last run and a few scrapes after it, and every rule has been evaluated since
    const deadline = Date.now() + 20_000;
    let seenAt = 0;
    for (;;) {
      const r = await prom.query('sum(recon_runs_total{result="success"})');
      if (!seenAt && Number(r.data?.result[0]?.value[1] ?? 0) >= 3) seenAt = Date.now();
      if (seenAt && Date.now() - seenAt > 3000) {
        const groups = (await prom.api('/api/v1/rules')).data.groups as Array<{ rules: Array<{ lastEvaluation: string }> }>;
        if (groups.flatMap((g) => g.rules).every((rule) => Date.parse(rule.lastEvaluation) > seenAt)) break;
      }
      if (Date.now() > deadline) throw new Error(`Prometheus did not scrape the service's runs in time:\n${prom.output()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }, 60_000);

  afterAll(async () => {
    await prom?.stop();
    await svc?.destroy();
  });

  it('runs every ClickHouse panel query on the engine', async () => {
    const to = new Date();
    const range = { from: new Date(to.getTime() - 86_400_000), to, intervalSeconds: 60 };
    expect(sqlTargets.length).toBeGreaterThanOrEqual(5);
    const rows: Record<string, number> = {};
    for (const t of sqlTargets) {
      const sql = expandClickHouseMacros(t.rawSql!, range);
      expect(sql, `${t.dashboard} / ${t.panel}: unexpanded macro or variable`).not.toMatch(/\$/);
      let result: unknown[];
      try {
        result = (await (await svc.deps.storage.api.query({ query: sql, format: 'JSONEachRow' })).json()) as unknown[];
      } catch (err) {
        throw new Error(`${t.dashboard} / ${t.panel}: ${(err as Error).message}\n${sql}`);
      }
      rows[`${t.dashboard} / ${t.panel}`] = result.length;
    }
    // every query over data this test made returns it (open push intents: none are left open here)
    for (const [panel, count] of Object.entries(rows)) if (!panel.endsWith('/ Open push intents')) expect(count, panel).toBeGreaterThan(0);
  });

  /** Queries that may legitimately return nothing on a healthy service that has seen this test's traffic. */
  const mayBeEmpty = (expr: string) =>
    expr.includes('status_code=~"5.."') || expr.includes('stripe_api_errors_total') || (expr.includes('readiness_') && !/^readiness_status\b/m.test(metricsText));

  it.each(promExprs.map((t) => [`${t.dashboard} / ${t.panel} (${t.refId})`, t] as const))('evaluates %s in Prometheus', async (_name, t: Target) => {
    expect(t.expr, 'no template variables').not.toMatch(/\$/);
    const r = await prom.query(t.expr!);
    expect(r.status, `${t.expr}: ${r.error}`).toBe('success');
    if (!mayBeEmpty(t.expr!)) expect(r.data!.result.length, `${t.expr} returned nothing`).toBeGreaterThan(0);
  });

  it.each(step2.map((q) => [q] as const))('evaluates the runbook query %s', async (q) => {
    const r = await prom.query(q);
    expect(r.status, `${q}: ${r.error}`).toBe('success');
    if (!mayBeEmpty(q)) expect(r.data!.result.length, `${q} returned nothing`).toBeGreaterThan(0);
  });

  /** What each alert's condition (its expr, before `for`) must give on this service, where that is deterministic. */
  const expected: Record<string, 'holds' | 'quiet'> = {
    ReconciliationDriftBeyondEpsilon: 'holds',
    ReconciliationDriftAbsolute: 'holds',
    UnpushableUsage: 'holds',
    LateEventsBeyondWindow: 'holds',
    ReconciliationNotRunning: 'quiet',
    ReconciliationErrors: 'quiet',
    HttpServerErrors: 'quiet',
    IngestBackpressure: 'quiet',
    StripeAuthErrors: 'quiet',
    StripePushItemsInError: 'quiet',
    UnmappedUsage: 'quiet',
    StripemeterUnhealthy: 'quiet',
    StripemeterTargetDown: 'quiet',
    // a test machine has more than 1 GiB free (DiskSpaceLow and DiskFullWithinDay depend on the machine's disk)
    DiskIngestRefused: 'quiet',
  };

  it('loads alerts.yml and evaluates every rule without error', async () => {
    const groups = (await prom.api('/api/v1/rules')).data.groups as Array<{ rules: Array<{ name: string; query: string; health: string; lastError?: string }> }>;
    const loaded = groups.flatMap((g) => g.rules);
    expect(loaded.map((r) => r.name).sort()).toEqual(rules.map((r) => r.name).sort());
    for (const r of loaded) expect(r.health, `${r.name}: ${r.lastError}`).toBe('ok');
  });

  it.each(rules.map((r) => [r.name] as const))('evaluates the expr of %s', async (name) => {
    const groups = (await prom.api('/api/v1/rules')).data.groups as Array<{ rules: Array<{ name: string; query: string }> }>;
    const rule = groups.flatMap((g) => g.rules).find((r) => r.name === name)!;
    const r = await prom.query(rule.query);
    expect(r.status, `${rule.query}: ${r.error}`).toBe('success');
    if (expected[name] === 'holds') expect(r.data!.result.length, `${name}: ${rule.query}`).toBeGreaterThan(0);
    if (expected[name] === 'quiet') expect(r.data!.result, `${name}: ${rule.query}`).toEqual([]);
  });

  it('sees the drift of cus_2 with the labels the alerts and dashboards use', async () => {
    const r = await prom.query('max_over_time(reconciliation_diff_pct[15m]) > 0.005');
    expect(r.data!.result.map((s) => s.metric)).toEqual([
      expect.objectContaining({ job: 'stripemeter-api', tenant: 'demo', metric: 'requests', customer: 'cus_2', period: new Date().toISOString().slice(0, 7) }),
    ]);
  });
});
