import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toClickHouseTime } from '../../../storage/time.js';
import { readMigrations } from '../../../storage/migrations.js';
import { event, startTestService, type TestService } from '../../../../test/support/service.js';

let svc: TestService;

beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.destroy();
});

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type Sample = { name: string; labels: Record<string, string>; value: number };

function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
    if (!m) throw new Error(`unparseable metrics line: ${line}`);
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]));
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

async function scrape(): Promise<{ text: string; samples: Sample[] }> {
  const r = await svc.request('GET', '/metrics', { key: null });
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
  return { text: r.body as string, samples: parseMetrics(r.body as string) };
}

/** The value of the one sample with exactly these labels (0 when absent, as a counter not yet incremented). */
function value(samples: Sample[], name: string, labels: Record<string, string>): number {
  const hits = samples.filter(
    (s) => s.name === name && Object.keys(s.labels).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  expect(hits.length, `${name} ${JSON.stringify(labels)}`).toBeLessThanOrEqual(1);
  return hits[0]?.value ?? 0;
}

describe('health', () => {
  it('GET /health/live answers 200 without a key', async () => {
    const r = await svc.request('GET', '/health/live', { key: null });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: 'ok' });
  });

  it('GET /health/ready reports storage and migrations passing', async () => {
    const r = await svc.request('GET', '/health/ready', { key: null });
    expect(r.status).toBe(200);
    expect(r.body.checks.storage).toMatchObject({ status: 'pass', ms: expect.any(Number) });
    expect(r.body.checks.migrations).toEqual({ status: 'pass', detail: `${readMigrations().length} applied` });
    // Healthy when every check passes; a non-critical warning (e.g. the Stripe sandbox) degrades it.
    const all = Object.values(r.body.checks as Record<string, { status: string }>);
    expect(r.body.status).toBe(all.every((c) => c.status === 'pass') ? 'healthy' : 'degraded');
  });

  it('readiness turns unhealthy (503) when an applied migration no longer matches its file, and recovers', async () => {
    const target = readMigrations()[2]!;
    const label = `${String(target.version).padStart(4, '0')}_${target.name}`;
    // A newer ledger row for an applied version: ReplacingMergeTree(applied_at) FINAL keeps it.
    await svc.deps.storage.api.insert({
      table: 'schema_migrations',
      values: [{ version: target.version, name: target.name, checksum: 'f'.repeat(64), applied_at: toClickHouseTime(Date.now() + 1000) }],
      format: 'JSONEachRow',
    });
    const bad = await svc.request('GET', '/health/ready', { key: null });
    expect(bad.status).toBe(503);
    expect(bad.body.status).toBe('unhealthy');
    expect(bad.body.checks.migrations.status).toBe('fail');
    expect(bad.body.checks.migrations.detail).toBe(`edited after apply: ${label}`);
    expect(bad.body.checks.storage.status).toBe('pass');
    // Liveness is not readiness: the process is still alive.
    expect((await svc.request('GET', '/health/live', { key: null })).status).toBe(200);

    await svc.deps.storage.api.insert({
      table: 'schema_migrations',
      values: [{ version: target.version, name: target.name, checksum: target.checksum, applied_at: toClickHouseTime(Date.now() + 5000) }],
      format: 'JSONEachRow',
    });
    const good = await svc.request('GET', '/health/ready', { key: null });
    expect(good.status).toBe(200);
    expect(good.body.checks.migrations.status).toBe('pass');
  });
});

describe('metrics', () => {
  it('exposes prom-client default metrics without a key', async () => {
    const { samples } = await scrape();
    const names = new Set(samples.map((s) => s.name));
    for (const n of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds']) {
      expect(names).toContain(n);
    }
    expect(value(samples, 'process_cpu_user_seconds_total', {})).toBeGreaterThan(0);
  });

  it('counts requests by method, route template and status code', async () => {
    const labels = { method: 'POST', route: '/v1/events/ingest', status_code: '200' };
    const before = value((await scrape()).samples, 'http_requests_total', labels);
    const r = await svc.request('POST', '/v1/events/ingest', { body: { events: [event({ metric: 'm_metrics', idempotencyKey: 'mm1' })] } });
    expect(r.status).toBe(200);
    await svc.request('POST', '/v1/events/ingest', { body: { events: [event({ metric: 'm_metrics', idempotencyKey: 'mm2' })] } });
    await svc.request('POST', '/v1/events/ingest', { body: { events: [] } });
    const { samples } = await scrape();
    expect(value(samples, 'http_requests_total', labels)).toBe(before + 2);
    expect(value(samples, 'http_requests_total', { ...labels, status_code: '400' })).toBeGreaterThanOrEqual(1);
  });

  it('labels requests with the route template, never the raw path', async () => {
    const id = 'key_0123456789abcdef';
    expect((await svc.request('POST', `/v1/admin/api-keys/${id}/revoke`)).status).toBe(404);
    expect((await svc.request('DELETE', `/v1/admin/api-keys/${id}`)).status).toBe(404);
    const made = await svc.request('POST', '/v1/admin/api-keys', { body: { tenantId: 'demo', scopes: ['read'] } });
    expect((await svc.request('POST', `/v1/admin/api-keys/${made.body.id}/revoke`)).status).toBe(200);
    // Refused before the handler ran (authentication, body parsing): still the route's template.
    expect((await svc.request('GET', '/v1/usage?tenantId=demo&metric=x', { key: null })).status).toBe(401);
    expect((await svc.request('POST', '/v1/events/ingest', { body: '{"events": [' })).status).toBe(400);
    expect((await svc.request('GET', '/v1/no/such/route/42')).status).toBe(404);

    const { text, samples } = await scrape();
    const revoke = { method: 'POST', route: '/v1/admin/api-keys/:id/revoke' };
    const buckets = samples.filter(
      (s) => s.name === 'http_request_duration_seconds_bucket' && s.labels.route === revoke.route && s.labels.method === 'POST' && s.labels.status_code === '404',
    );
    expect(buckets.length).toBeGreaterThan(1);
    expect(buckets.find((b) => b.labels.le === '+Inf')?.value).toBe(1);
    expect(value(samples, 'http_request_duration_seconds_count', { ...revoke, status_code: '404' })).toBe(1);
    expect(value(samples, 'http_request_duration_seconds_count', { ...revoke, status_code: '200' })).toBe(1);
    expect(value(samples, 'http_requests_total', { method: 'DELETE', route: '/v1/admin/api-keys/:id', status_code: '404' })).toBe(1);
    expect(value(samples, 'http_requests_total', { method: 'GET', route: '/v1/usage', status_code: '401' })).toBe(1);
    expect(value(samples, 'http_requests_total', { method: 'POST', route: '/v1/events/ingest', status_code: '400' })).toBeGreaterThanOrEqual(1);
    expect(value(samples, 'http_requests_total', { method: 'GET', route: 'unmatched', status_code: '404' })).toBe(1);

    const routes = new Set(samples.filter((s) => s.name === 'http_requests_total').map((s) => s.labels.route!));
    for (const route of routes) expect(route === 'unmatched' || route.startsWith('/'), route).toBe(true);
    expect(text).not.toContain(id);
    expect(text).not.toContain(made.body.id);
    expect(text).not.toContain('/v1/no/such/route');
  });

  it('counts ingested events by tenant and result', async () => {
    const ts = new Date(Date.now() - 60_000).toISOString();
    const ev = (o: Record<string, unknown>) => event({ ts, ...o });
    const created = await svc.request('POST', '/v1/admin/tenants', { body: { id: 'acme' } });
    expect(created.status).toBe(201);
    const labels = (tenant: string, result: string) => ({ tenant, result });
    const before = (await scrape()).samples;
    const r1 = await svc.request('POST', '/v1/events/ingest', {
      body: {
        events: [
          ev({ metric: 'm_count', quantity: 1, idempotencyKey: 'c1' }),
          ev({ metric: 'm_count', quantity: 1, idempotencyKey: 'c1' }),
          ev({ metric: 'm_count', quantity: 2, idempotencyKey: 'c2' }),
          ev({ metric: 'm_count', quantity: -1 }),
          ev({ metric: 'm_count', quantity: 5, idempotencyKey: 'c2' }),
          ev({ metric: 'm_count', quantity: 3, idempotencyKey: 'c3' }),
          ev({ tenantId: 'acme', metric: 'm_count', idempotencyKey: 'a1' }),
        ],
      },
    });
    expect(r1.body).toMatchObject({ accepted: 4, duplicates: 1, rejected: 2 });
    const r2 = await svc.request('POST', '/v1/events/ingest', {
      body: { events: [ev({ metric: 'm_count', quantity: 1, idempotencyKey: 'c1' }), ev({ metric: 'm_count', idempotencyKey: 'c4' }), 'not an event'] },
    });
    expect(r2.body).toMatchObject({ accepted: 1, duplicates: 1, rejected: 1 });

    const after = (await scrape()).samples;
    const delta = (tenant: string, result: string) =>
      value(after, 'events_ingested_total', labels(tenant, result)) - value(before, 'events_ingested_total', labels(tenant, result));
    expect(delta('demo', 'accepted')).toBe(4);
    expect(delta('demo', 'duplicate')).toBe(2);
    expect(delta('demo', 'rejected')).toBe(2);
    expect(delta('acme', 'accepted')).toBe(1);
    expect(delta('acme', 'duplicate')).toBe(0);
    // An entry that names no tenant is counted, under the caller's tenant (none for the root key).
    expect(delta('unknown', 'rejected')).toBe(1);
  });
});

describe('request ids and logs', () => {
  it('echoes an incoming x-request-id and puts it on every log line of that request', async () => {
    const id = 'client-req.42:A_b-c';
    const r = await svc.request('POST', '/v1/events/ingest', { body: { events: [] }, headers: { 'x-request-id': id } });
    expect(r.status).toBe(400);
    expect(r.headers.get('x-request-id')).toBe(id);
    expect(r.body.requestId).toBe(id);
    const lines = svc.logs.filter((l) => l.requestId === id);
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines.find((l) => l.msg === 'request')).toMatchObject({ method: 'POST', path: '/v1/events/ingest', route: '/v1/events/ingest', status: 400, keyId: 'admin' });
    // Every access-log line carries a request id.
    for (const l of svc.logs.filter((x) => x.msg === 'request')) expect(typeof l.requestId, JSON.stringify(l)).toBe('string');
  });

  it('generates a request id when none (or an unusable one) is sent', async () => {
    const a = await svc.request('GET', '/v1/admin/tenants');
    const b = await svc.request('GET', '/v1/admin/tenants');
    const bad = await svc.request('GET', '/v1/admin/tenants', { headers: { 'x-request-id': 'has spaces and {braces}' } });
    const long = await svc.request('GET', '/v1/admin/tenants', { headers: { 'x-request-id': 'x'.repeat(129) } });
    const ids = [a, b, bad, long].map((r) => r.headers.get('x-request-id')!);
    for (const id of ids) expect(id).toMatch(uuid);
    expect(new Set(ids).size).toBe(4);
    expect(svc.logs.some((l) => l.requestId === ids[0] && l.msg === 'request')).toBe(true);
    expect(svc.logText()).not.toContain('has spaces and {braces}');
  });

  it('never writes a key to the logs', async () => {
    const made = await svc.request('POST', '/v1/admin/api-keys', { body: { tenantId: 'demo', scopes: ['ingest', 'read'], name: 'log-check' } });
    expect(made.status).toBe(201);
    const key: string = made.body.key;
    const wrong = `sm_${'Z'.repeat(43)}`;
    for (const k of [svc.adminKey, key]) {
      expect((await svc.request('GET', '/v1/usage?tenantId=demo&metric=m_log', { key: k })).status).toBe(200);
      expect((await svc.request('GET', '/v1/usage?tenantId=demo&metric=m_log', { key: null, headers: { 'x-api-key': k } })).status).toBe(200);
      const ing = await svc.request('POST', '/v1/events/ingest', { key: null, headers: { 'x-api-key': k }, body: { events: [event({ metric: 'm_log' }), 'bad'] } });
      expect(ing.status).toBe(200);
    }
    expect((await svc.request('GET', '/v1/usage?tenantId=demo&metric=m_log', { key: wrong })).status).toBe(401);
    expect((await svc.request('GET', '/v1/usage?tenantId=demo&metric=m_log', { key: null, headers: { 'x-api-key': wrong } })).status).toBe(401);
    expect((await svc.request('GET', '/v1/usage?tenantId=demo&metric=m_log', { key: null, headers: { authorization: `Basic ${key}` } })).status).toBe(401);

    // The requests were logged, by key id.
    expect(svc.logs.some((l) => l.msg === 'request' && l.keyId === made.body.id)).toBe(true);
    expect(svc.logs.some((l) => l.msg === 'request' && l.status === 401 && l.keyId === undefined)).toBe(true);
    const text = svc.logText();
    expect(text.length).toBeGreaterThan(0);
    for (const secret of [svc.adminKey, key, wrong]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(secret.slice(3));
    }
  });

  it('answers an unexpected failure with a 500 that shows nothing internal, and logs the detail under the request id', async () => {
    await svc.deps.storage.api.command({ query: 'RENAME TABLE usage_period_counters TO usage_period_counters_hidden' });
    let r: Awaited<ReturnType<TestService['request']>>;
    try {
      r = await svc.request('GET', '/v1/usage?tenantId=demo&metric=m_fail', { headers: { 'x-request-id': 'fail-500' } });
    } finally {
      await svc.deps.storage.api.command({ query: 'RENAME TABLE usage_period_counters_hidden TO usage_period_counters' });
    }
    expect(r.status).toBe(500);
    expect(r.body).toEqual({ error: { code: 'internal_error', message: 'internal error; see the server log for this request id' }, requestId: 'fail-500' });
    const text = JSON.stringify(r.body);
    for (const leak of ['usage_period_counters', 'Exception', 'Code:', 'UNKNOWN_TABLE', 'SELECT', ' at ', '.ts:', '.js:', '/work', 'stack']) {
      expect(text).not.toContain(leak);
    }
    const logged = svc.logs.find((l) => l.requestId === 'fail-500' && l.msg === 'unhandled error') as { err?: { message?: string; stack?: string } } | undefined;
    expect(logged?.err?.message).toMatch(/usage_period_counters/);
    expect((await svc.request('GET', '/v1/usage?tenantId=demo&metric=m_fail')).status).toBe(200);
  });

  it('answers a storage failure during ingest with a 503 that shows nothing internal', async () => {
    // Make the ingest key lookup fail: the writer answers 503 and stores nothing.
    await svc.deps.storage.api.command({ query: 'RENAME TABLE events TO events_hidden' });
    let r: Awaited<ReturnType<TestService['request']>>;
    try {
      r = await svc.request('POST', '/v1/events/ingest', { body: { events: [event({ metric: 'm_503', idempotencyKey: 'x1' })] }, headers: { 'x-request-id': 'fail-503' } });
    } finally {
      await svc.deps.storage.api.command({ query: 'RENAME TABLE events_hidden TO events' });
    }
    expect(r.status).toBe(503);
    expect(r.headers.get('retry-after')).toBe('1');
    expect(r.body.error.code).toBe('storage_unavailable');
    expect(r.body.requestId).toBe('fail-503');
    const text = JSON.stringify(r.body);
    for (const leak of ['events_hidden', 'Exception', 'Code:', 'UNKNOWN_TABLE', 'SELECT', ' at ', '.ts:', '.js:', '/work']) {
      expect(text).not.toContain(leak);
    }
    expect(svc.logs.some((l) => l.msg === 'ingest commit failed')).toBe(true);
    const retry = await svc.request('POST', '/v1/events/ingest', { body: { events: [event({ metric: 'm_503', idempotencyKey: 'x1' })] } });
    expect(retry.body).toMatchObject({ accepted: 1, duplicates: 0 });
  });
});

/** Sends headers and the first bytes now; the rest when `finish` is called. */
function slowPost(urlPath: string, key: string, body: string) {
  const req = http.request(`${svc.url}${urlPath}`, {
    method: 'POST',
    agent: false,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
  });
  const response = new Promise<{ status: number; body: any }>((resolve, reject) => {
    req.on('response', (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (data += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(data) }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  const split = 1024;
  req.write(body.slice(0, split));
  const connected = new Promise<void>((resolve) => req.on('socket', (s) => s.once('connect', () => resolve())));
  return { connected, response, finish: () => req.end(body.slice(split)) };
}

describe('graceful stop', () => {
  it('finishes an in-flight 10,000-event ingest while stopping, and its events are stored', async () => {
    const n = 10_000;
    const ts = new Date(Date.now() - 60_000).toISOString();
    const events = Array.from({ length: n }, (_, i) => event({ metric: 'm_graceful', idempotencyKey: `g${i}`, customerRef: `cus_${i % 7}`, ts }));
    const post = slowPost('/v1/events/ingest', svc.adminKey, JSON.stringify({ events }));
    await post.connected;
    // Let the server parse the request line and headers: the connection is now busy, not idle.
    await new Promise((r) => setTimeout(r, 150));

    let stoppedAt = 0;
    const stopping = svc.stop().then(() => (stoppedAt = performance.now()));
    await new Promise((r) => setTimeout(r, 50));
    // New connections are refused while the in-flight request continues.
    await expect(fetch(`${svc.url}/health/live`)).rejects.toThrow();
    // stop() waits for the request, whose body has not even been sent yet.
    expect(stoppedAt).toBe(0);
    post.finish();

    const res = await post.response;
    await stopping;
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ accepted: n, duplicates: 0, rejected: 0 });
    expect(svc.logs.some((l) => l.msg === 'stopped')).toBe(true);

    svc = await startTestService({}, svc.dataDir);
    const u = await svc.request('GET', '/v1/usage?tenantId=demo&metric=m_graceful');
    expect(u.status).toBe(200);
    expect(u.body.total).toBe(String(n));
    expect(u.body.customers.reduce((s: number, c: any) => s + c.events, 0)).toBe(n);
    const rs = await svc.deps.storage.api.query({
      query: "SELECT count() AS n, uniqExact(idempotency_key) AS k FROM events WHERE tenant_id = 'demo' AND metric = 'm_graceful'",
      format: 'JSONEachRow',
    });
    const [row] = (await rs.json()) as Array<{ n: unknown; k: unknown }>;
    expect([Number(row!.n), Number(row!.k)]).toEqual([n, n]);
  });
});
