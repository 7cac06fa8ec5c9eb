import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../config.js';
import { event, startTestService, type TestService } from '../../../../test/support/service.js';

let svc: TestService;

beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.destroy();
});

type Created = { id: string; key: string };
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const since = () => new Date(Date.now() - 3600_000).toISOString();
const until = () => new Date(Date.now() + 3600_000).toISOString();

const ingest = (events: unknown[], key?: string | null, headers?: Record<string, string>) =>
  svc.request('POST', '/v1/events/ingest', { body: { events }, key, ...(headers ? { headers } : {}) });
const usage = (tenantId: string, metric: string, key?: string) => svc.request('GET', `/v1/usage?tenantId=${tenantId}&metric=${metric}`, { key });
const eventsOf = (tenantId: string, metric: string, key?: string) =>
  svc.request('GET', `/v1/events?tenantId=${tenantId}&metric=${metric}`, { key });
const history = (tenantId: string, metric: string, key?: string) =>
  svc.request('GET', `/v1/usage/history?tenantId=${tenantId}&metric=${metric}&since=${encodeURIComponent(since())}&until=${encodeURIComponent(until())}`, { key });
const createKey = (body: unknown, key?: string) => svc.request('POST', '/v1/admin/api-keys', { body, key });
const createTenant = (body: unknown, key?: string) => svc.request('POST', '/v1/admin/tenants', { body, key });
const withApiKeyHeader = (method: string, urlPath: string, key: string, body?: unknown) =>
  svc.request(method, urlPath, { key: null, headers: { 'x-api-key': key }, ...(body === undefined ? {} : { body }) });

async function newKey(body: Record<string, unknown>, key?: string): Promise<Created> {
  const r = await createKey(body, key);
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return { id: r.body.id, key: r.body.key };
}

/** Every stored event of a metric for a tenant, read with the root key. */
async function storedKeys(tenantId: string, metric: string): Promise<string[]> {
  const r = await eventsOf(tenantId, metric);
  expect(r.status).toBe(200);
  return r.body.events.map((e: any) => e.idempotencyKey).sort();
}

/** Ignores entries that a background merge removes while we look. */
function gone<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return fallback;
    throw err;
  }
}

function filesUnder(dir: string): string[] {
  return gone(() => readdirSync(dir, { withFileTypes: true }), []).flatMap((d) => {
    const p = path.join(dir, d.name);
    return d.isDirectory() ? filesUnder(p) : d.isFile() ? [p] : [];
  });
}

describe('authentication', () => {
  it('answers 401 without a key, before reading the body, and stores nothing', async () => {
    const requests = [
      await svc.request('GET', '/v1/usage?tenantId=demo&metric=m_nokey', { key: null }),
      await svc.request('GET', '/v1/events?tenantId=demo', { key: null }),
      await svc.request('GET', '/v1/admin/api-keys', { key: null }),
      await svc.request('POST', '/v1/admin/tenants', { key: null, body: { id: 'nokey' } }),
      await ingest([event({ metric: 'm_nokey', idempotencyKey: 'n1' })], null),
      // An anonymous caller gets 401, not a parse of its body.
      await svc.request('POST', '/v1/events/ingest', { key: null, body: '{"events": [' }),
      await svc.request('POST', '/v1/events/ingest', { key: null, body: 'x', headers: { 'content-type': 'text/plain' } }),
    ];
    for (const r of requests) {
      expect(r.status).toBe(401);
      expect(r.body.error.code).toBe('unauthorized');
      expect(r.body.error.message).toMatch(/missing API key/);
      expect(typeof r.body.requestId).toBe('string');
    }
    expect(await storedKeys('demo', 'm_nokey')).toEqual([]);
    expect((await svc.request('GET', '/v1/admin/tenants')).body.tenants.map((t: any) => t.id)).not.toContain('nokey');
  });

  it('answers 401 to malformed and unknown keys', async () => {
    const admin = svc.adminKey;
    const variants: Array<Record<string, string>> = [
      { authorization: 'Bearer' },
      { authorization: 'Bearer   ' },
      { authorization: `Basic ${Buffer.from(`x:${admin}`).toString('base64')}` },
      { authorization: admin },
      { authorization: `Bearer ${admin} extra` },
      { authorization: `Bearer ${admin}x` },
      { authorization: `Bearer ${admin.slice(0, -1)}` },
      { authorization: `Bearer ${admin.toUpperCase()}` },
      { authorization: 'Bearer sm_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
      { 'x-api-key': 'sm_not-a-key' },
      { 'x-api-key': `${admin} ` + 'x' },
    ];
    for (const headers of variants) {
      const r = await svc.request('GET', '/v1/admin/tenants', { key: null, headers });
      expect(r.status, JSON.stringify(headers)).toBe(401);
      expect(r.body.error.code).toBe('unauthorized');
    }
    const unknown = await svc.request('GET', '/v1/admin/tenants', { key: 'sm_unknown_key_0123456789' });
    expect(unknown.body.error.message).toMatch(/invalid or revoked/);
  });

  it('accepts a key as Authorization: Bearer (any case) or as X-API-Key', async () => {
    const viaBearer = await svc.request('GET', '/v1/admin/tenants');
    expect(viaBearer.status).toBe(200);
    expect(viaBearer.body.tenants.map((t: any) => t.id)).toContain('demo');
    expect((await withApiKeyHeader('GET', '/v1/admin/tenants', svc.adminKey)).status).toBe(200);
    expect((await svc.request('GET', '/v1/admin/tenants', { key: null, headers: { authorization: `bearer ${svc.adminKey}` } })).status).toBe(200);

    const reader = await newKey({ tenantId: 'demo', scopes: ['read'], name: 'both-headers' });
    expect((await usage('demo', 'm_any', reader.key)).status).toBe(200);
    expect((await withApiKeyHeader('GET', '/v1/usage?tenantId=demo&metric=m_any', reader.key)).status).toBe(200);
    const writer = await newKey({ tenantId: 'demo', scopes: ['ingest'] });
    const r = await withApiKeyHeader('POST', '/v1/events/ingest', writer.key, { events: [event({ metric: 'm_header', idempotencyKey: 'h1' })] });
    expect(r.status).toBe(200);
    expect(r.body.accepted).toBe(1);
  });

  it('shows a new key once and stores only its SHA-256', async () => {
    const r = await createKey({ tenantId: 'demo', scopes: ['ingest', 'read'], name: 'shown-once' });
    expect(r.status).toBe(201);
    expect(r.body).toEqual({ id: expect.stringMatching(/^key_[0-9a-f]{16}$/), key: expect.any(String), tenantId: 'demo', scopes: ['ingest', 'read'], name: 'shown-once' });
    const { id, key } = r.body as Created;
    expect(key).toMatch(/^sm_[A-Za-z0-9_-]{43}$/);

    const rs = await svc.deps.storage.api.query({ query: 'SELECT * FROM api_keys', format: 'JSONEachRow' });
    const stored = (await rs.json()) as Array<Record<string, unknown>>;
    const row = stored.find((k) => k.id === id)!;
    expect(row).toBeDefined();
    expect(row.key_hash).toBe(sha256(key));
    expect(row.key_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(row.key_prefix).toBe(key.slice(0, 7));
    expect(row.tenant_id).toBe('demo');
    expect(JSON.stringify(stored)).not.toContain(key);
    expect(JSON.stringify(stored)).not.toContain(key.slice(7));

    // Nowhere on disk either (the engine's parts, logs and metadata under the data directory).
    const secret = Buffer.from(key.slice(7));
    const files = filesUnder(path.join(svc.dataDir, 'clickhouse'));
    expect(files.length).toBeGreaterThan(10);
    for (const file of files) {
      expect(gone(() => readFileSync(file), Buffer.alloc(0)).includes(secret), file).toBe(false);
    }

    // Listing never shows the key or its hash.
    const list = await svc.request('GET', '/v1/admin/api-keys');
    expect(list.status).toBe(200);
    const listed = list.body.keys.find((k: any) => k.id === id);
    expect(listed).toEqual({
      id,
      tenantId: 'demo',
      name: 'shown-once',
      prefix: key.slice(0, 7),
      scopes: ['ingest', 'read'],
      createdBy: 'admin',
      createdAt: expect.any(String),
      revokedAt: null,
    });
    const text = JSON.stringify(list.body);
    expect(text).not.toContain(key.slice(7));
    expect(text).not.toContain(sha256(key));
    expect(text).not.toMatch(/key_?hash/i);
    // The key works.
    expect((await usage('demo', 'm_any', key)).status).toBe(200);
  });
});

describe('scopes and tenants', () => {
  let ingestOnly: Created;
  let readOnly: Created;
  let tenantAdmin: Created;
  let acmeIngest: Created;
  let acmeRead: Created;
  let analyst: Created;

  beforeAll(async () => {
    const acme = await createTenant({ id: 'acme' });
    expect(acme.status).toBe(201);
    ingestOnly = await newKey({ tenantId: 'demo', scopes: ['ingest'], name: 'ingest-only' });
    readOnly = await newKey({ tenantId: 'demo', scopes: ['read'], name: 'read-only' });
    tenantAdmin = await newKey({ tenantId: 'demo', scopes: ['admin'], name: 'demo-admin' });
    acmeIngest = await newKey({ tenantId: 'acme', scopes: ['ingest'], name: 'acme-ingest' });
    acmeRead = await newKey({ tenantId: 'acme', scopes: ['read'], name: 'acme-read' });
    analyst = await newKey({ scopes: ['sql'], name: 'analyst' });
  });

  it('an ingest key ingests its tenant but cannot read or administer', async () => {
    const r = await ingest([event({ metric: 'm_scope', quantity: 2, idempotencyKey: 's1' })], ingestOnly.key);
    expect(r.status).toBe(200);
    expect(r.body.accepted).toBe(1);
    for (const denied of [
      await usage('demo', 'm_scope', ingestOnly.key),
      await eventsOf('demo', 'm_scope', ingestOnly.key),
      await history('demo', 'm_scope', ingestOnly.key),
      await createKey({ tenantId: 'demo', scopes: ['read'] }, ingestOnly.key),
      await svc.request('GET', '/v1/admin/api-keys', { key: ingestOnly.key }),
    ]) {
      expect(denied.status).toBe(403);
      expect(denied.body.error.code).toBe('forbidden');
    }
    expect((await usage('demo', 'm_scope', ingestOnly.key)).body.error.message).toMatch(/'read' scope/);
  });

  it('a read key reads usage, events and history but cannot ingest', async () => {
    const u = await usage('demo', 'm_scope', readOnly.key);
    expect(u.status).toBe(200);
    expect(u.body.total).toBe('2');
    const e = await eventsOf('demo', 'm_scope', readOnly.key);
    expect(e.status).toBe(200);
    expect(e.body.events.map((x: any) => x.idempotencyKey)).toEqual(['s1']);
    const h = await history('demo', 'm_scope', readOnly.key);
    expect(h.status).toBe(200);
    expect(h.body.total).toBe('2');

    const denied = await ingest([event({ metric: 'm_scope', idempotencyKey: 's2' })], readOnly.key);
    expect(denied.status).toBe(403);
    expect(denied.body.error.message).toMatch(/'ingest' scope/);
    expect(await storedKeys('demo', 'm_scope')).toEqual(['s1']);
    expect((await createKey({ tenantId: 'demo', scopes: ['read'] }, readOnly.key)).status).toBe(403);
  });

  it("a tenant key never writes or reads another tenant's data", async () => {
    const other = await ingest([event({ tenantId: 'acme', metric: 'm_cross', idempotencyKey: 'x1' })], ingestOnly.key);
    expect(other.status).toBe(403);
    expect(other.body.error.message).toMatch(/tenant 'acme'/);
    // A batch mixing its own tenant with another is refused whole.
    const mixed = await ingest(
      [event({ metric: 'm_cross', idempotencyKey: 'x2' }), event({ tenantId: 'acme', metric: 'm_cross', idempotencyKey: 'x3' })],
      ingestOnly.key,
    );
    expect(mixed.status).toBe(403);
    expect(await storedKeys('acme', 'm_cross')).toEqual([]);
    expect(await storedKeys('demo', 'm_cross')).toEqual([]);

    const own = await ingest([event({ tenantId: 'acme', metric: 'm_cross', quantity: 7, idempotencyKey: 'a1' })], acmeIngest.key);
    expect(own.status).toBe(200);
    expect((await ingest([event({ metric: 'm_cross', idempotencyKey: 'a2' })], acmeIngest.key)).status).toBe(403);

    for (const r of [await usage('acme', 'm_cross', readOnly.key), await eventsOf('acme', 'm_cross', readOnly.key), await history('acme', 'm_cross', readOnly.key)]) {
      expect(r.status).toBe(403);
      expect(JSON.stringify(r.body)).not.toContain('"7"');
    }
    expect((await usage('demo', 'm_scope', acmeRead.key)).status).toBe(403);
    expect((await usage('acme', 'm_cross', acmeRead.key)).body.total).toBe('7');
    // A tenant key cannot probe which tenants exist: an unknown tenant is 403 for it, 404 only for the root key.
    expect((await usage('ghost', 'm_cross', readOnly.key)).status).toBe(403);
    expect((await ingest([event({ tenantId: 'ghost', metric: 'm_cross' })], ingestOnly.key)).status).toBe(403);
    const root = await usage('ghost', 'm_cross');
    expect(root.status).toBe(404);
    expect(root.body.error.code).toBe('unknown_tenant');
  });

  it('a tenant admin key manages its own tenant only and cannot create tenants', async () => {
    // Admin implies ingest and read on its own tenant.
    expect((await ingest([event({ metric: 'm_admin', idempotencyKey: 'ad1' })], tenantAdmin.key)).status).toBe(200);
    expect((await usage('demo', 'm_admin', tenantAdmin.key)).body.total).toBe('1');
    expect((await usage('acme', 'm_cross', tenantAdmin.key)).status).toBe(403);

    const made = await createKey({ tenantId: 'demo', scopes: ['read'], name: 'by-tenant-admin' }, tenantAdmin.key);
    expect(made.status).toBe(201);
    expect((await usage('demo', 'm_admin', made.body.key)).status).toBe(200);
    const listedByRoot = (await svc.request('GET', '/v1/admin/api-keys')).body.keys.find((k: any) => k.id === made.body.id);
    expect(listedByRoot.createdBy).toBe(tenantAdmin.id);

    const forAcme = await createKey({ tenantId: 'acme', scopes: ['read'] }, tenantAdmin.key);
    expect(forAcme.status).toBe(403);
    expect(forAcme.body.key).toBeUndefined();
    expect((await createKey({ scopes: ['sql'] }, tenantAdmin.key)).status).toBe(403);
    const tenant = await createTenant({ id: 'by-tenant-admin' }, tenantAdmin.key);
    expect(tenant.status).toBe(403);
    expect((await svc.request('GET', '/v1/admin/tenants', { key: tenantAdmin.key })).status).toBe(403);
    expect((await svc.request('GET', '/v1/admin/tenants')).body.tenants.map((t: any) => t.id)).not.toContain('by-tenant-admin');

    // Listing shows its own tenant's keys only; asking for another tenant is refused.
    const list = await svc.request('GET', '/v1/admin/api-keys', { key: tenantAdmin.key });
    expect(list.status).toBe(200);
    const tenants = new Set(list.body.keys.map((k: any) => k.tenantId));
    expect([...tenants]).toEqual(['demo']);
    expect(list.body.keys.map((k: any) => k.id)).toEqual(expect.arrayContaining([ingestOnly.id, readOnly.id, made.body.id]));
    expect((await svc.request('GET', '/v1/admin/api-keys?tenantId=acme', { key: tenantAdmin.key })).status).toBe(403);

    // Another tenant's key looks like it does not exist, and stays valid.
    for (const method of ['POST', 'DELETE'] as const) {
      const url = method === 'POST' ? `/v1/admin/api-keys/${acmeRead.id}/revoke` : `/v1/admin/api-keys/${acmeRead.id}`;
      const r = await svc.request(method, url, { key: tenantAdmin.key });
      expect(r.status).toBe(404);
    }
    expect((await usage('acme', 'm_cross', acmeRead.key)).status).toBe(200);
  });

  it('only the root admin key creates tenants', async () => {
    for (const key of [ingestOnly.key, readOnly.key, tenantAdmin.key, acmeIngest.key, analyst.key]) {
      const r = await createTenant({ id: 'not-created' }, key);
      expect(r.status).toBe(403);
    }
    const r = await createTenant({ id: 'created-by-root', timezone: 'Europe/Berlin' });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ id: 'created-by-root', timezone: 'Europe/Berlin', created: true });
    const ids = (await svc.request('GET', '/v1/admin/tenants')).body.tenants.map((t: any) => t.id);
    expect(ids).toContain('created-by-root');
    expect(ids).not.toContain('not-created');
  });

  it('a sql key has no tenant, and a tenant key cannot have sql', async () => {
    const bound = await createKey({ tenantId: 'demo', scopes: ['sql'] });
    expect(bound.status).toBe(400);
    expect(bound.body.error.issues.map((i: any) => i.path)).toContain('scopes');
    expect((await createKey({ tenantId: 'demo', scopes: ['read', 'sql'] })).status).toBe(400);
    // A key without a tenant is an analyst key: sql only.
    const unbound = await createKey({ scopes: ['read'] });
    expect(unbound.status).toBe(400);
    expect(unbound.body.error.issues.map((i: any) => i.path)).toContain('scopes');
    expect((await createKey({ tenantId: null, scopes: ['sql', 'admin'] })).status).toBe(400);

    const ok = await createKey({ tenantId: null, scopes: ['sql'], name: 'analyst-2' });
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ tenantId: null, scopes: ['sql'] });
    // No tenant data through the API: sql is for the analyst SQL endpoint only.
    for (const key of [analyst.key, ok.body.key]) {
      expect((await usage('demo', 'm_scope', key)).status).toBe(403);
      expect((await eventsOf('demo', 'm_scope', key)).status).toBe(403);
      expect((await ingest([event({ metric: 'm_sql', idempotencyKey: 'q1' })], key)).status).toBe(403);
      expect((await createKey({ tenantId: 'demo', scopes: ['read'] }, key)).status).toBe(403);
      expect((await svc.request('GET', '/v1/admin/api-keys', { key })).status).toBe(403);
    }
    expect(await storedKeys('demo', 'm_sql')).toEqual([]);
  });

  it('validates key requests', async () => {
    const cases: Array<[unknown, number, string]> = [
      [{ tenantId: 'demo', scopes: [] }, 400, 'scopes'],
      [{ tenantId: 'demo', scopes: ['write'] }, 400, 'scopes[0]'],
      [{ tenantId: 'demo' }, 400, 'scopes'],
      [{ tenantId: 'Demo!', scopes: ['read'] }, 400, 'tenantId'],
      [{ tenantId: 'demo', scopes: ['read'], extra: 1 }, 400, ''],
      [{ tenantId: 'demo', scopes: ['read'], name: 'n'.repeat(129) }, 400, 'name'],
    ];
    for (const [body, status, field] of cases) {
      const r = await createKey(body);
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(r.body.error.code).toBe('invalid_request');
      expect(r.body.error.issues.map((i: any) => i.path), JSON.stringify(body)).toContain(field);
    }
    const unknown = await createKey({ tenantId: 'nobody', scopes: ['read'] });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('unknown_tenant');
  });
});

describe('listing and revoking keys', () => {
  it('lists keys per tenant for the root key', async () => {
    const a = await newKey({ tenantId: 'acme', scopes: ['read'], name: 'list-acme' });
    const d = await newKey({ tenantId: 'demo', scopes: ['read'], name: 'list-demo' });
    const acme = await svc.request('GET', '/v1/admin/api-keys?tenantId=acme');
    expect(acme.status).toBe(200);
    const ids = acme.body.keys.map((k: any) => k.id);
    expect(ids).toContain(a.id);
    expect(ids).not.toContain(d.id);
    expect(new Set(acme.body.keys.map((k: any) => k.tenantId))).toEqual(new Set(['acme']));
    const all = (await svc.request('GET', '/v1/admin/api-keys')).body.keys.map((k: any) => k.id);
    expect(all).toEqual(expect.arrayContaining([a.id, d.id]));
    for (const k of (await svc.request('GET', '/v1/admin/api-keys')).body.keys) {
      expect(Object.keys(k).sort()).toEqual(['createdAt', 'createdBy', 'id', 'name', 'prefix', 'revokedAt', 'scopes', 'tenantId']);
    }
  });

  it('revokes with POST .../revoke and DELETE, effective at once', async () => {
    for (const via of ['POST', 'DELETE'] as const) {
      const k = await newKey({ tenantId: 'demo', scopes: ['read', 'ingest'], name: `revoke-${via}` });
      const other = await newKey({ tenantId: 'demo', scopes: ['read'], name: `survivor-${via}` });
      expect((await usage('demo', 'm_rev', k.key)).status).toBe(200);
      const url = via === 'POST' ? `/v1/admin/api-keys/${k.id}/revoke` : `/v1/admin/api-keys/${k.id}`;
      const r = await svc.request(via, url);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ id: k.id, tenantId: 'demo', revokedAt: expect.any(String) });
      expect(JSON.stringify(r.body)).not.toContain(k.key.slice(7));

      const after = await usage('demo', 'm_rev', k.key);
      expect(after.status).toBe(401);
      expect(after.body.error.message).toMatch(/invalid or revoked/);
      expect((await withApiKeyHeader('GET', '/v1/usage?tenantId=demo&metric=m_rev', k.key)).status).toBe(401);
      expect((await ingest([event({ metric: 'm_rev', idempotencyKey: `rv-${via}` })], k.key)).status).toBe(401);
      expect(await storedKeys('demo', 'm_rev')).toEqual([]);
      // Other keys are untouched.
      expect((await usage('demo', 'm_rev', other.key)).status).toBe(200);

      // Revoking again changes nothing.
      const again = await svc.request(via, url);
      expect(again.status).toBe(200);
      expect(again.body.revokedAt).toBe(r.body.revokedAt);
      const listed = (await svc.request('GET', '/v1/admin/api-keys')).body.keys.find((x: any) => x.id === k.id);
      expect(listed.revokedAt).toBe(r.body.revokedAt);
    }
  });

  it('a tenant admin revokes its own tenant keys', async () => {
    const admin = await newKey({ tenantId: 'acme', scopes: ['admin'] });
    const k = await newKey({ tenantId: 'acme', scopes: ['read'] });
    const r = await svc.request('DELETE', `/v1/admin/api-keys/${k.id}`, { key: admin.key });
    expect(r.status).toBe(200);
    expect((await usage('acme', 'm_rev', k.key)).status).toBe(401);
  });

  it('answers 404 for an unknown key id', async () => {
    for (const [method, url] of [
      ['POST', '/v1/admin/api-keys/key_0000000000000000/revoke'],
      ['DELETE', '/v1/admin/api-keys/key_0000000000000000'],
      ['DELETE', '/v1/admin/api-keys/nonsense'],
    ] as const) {
      const r = await svc.request(method, url);
      expect(r.status).toBe(404);
      expect(r.body.error.code).toBe('not_found');
    }
  });
});

describe('tenants', () => {
  it('creating a tenant twice answers 200 created:false; another zone is a 409', async () => {
    const first = await createTenant({ id: 'twice', timezone: 'America/New_York' });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ id: 'twice', timezone: 'America/New_York', created: true });
    const second = await createTenant({ id: 'twice', timezone: 'America/New_York' });
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ id: 'twice', timezone: 'America/New_York', created: false, createdAt: first.body.createdAt });
    const conflict = await createTenant({ id: 'twice', timezone: 'Europe/Berlin' });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('tenant_exists');
    // The default zone is UTC, so omitting it matches a UTC tenant.
    expect((await createTenant({ id: 'utc-default' })).body).toMatchObject({ timezone: 'UTC', created: true });
    expect((await createTenant({ id: 'utc-default', timezone: 'UTC' })).status).toBe(200);
    expect((await createTenant({ id: 'utc-default', timezone: 'Asia/Tokyo' })).status).toBe(409);
    const listed = (await svc.request('GET', '/v1/admin/tenants')).body.tenants.filter((t: any) => t.id === 'twice');
    expect(listed).toEqual([{ id: 'twice', timezone: 'America/New_York', stripeAccount: null, createdAt: first.body.createdAt }]);
  });

  it('answers 400 with the field path for an invalid tenant', async () => {
    const cases: Array<[unknown, string]> = [
      [{ id: 'badzone', timezone: 'Mars/Olympus_Mons' }, 'timezone'],
      [{ id: 'badzone', timezone: '' }, 'timezone'],
      [{ id: 'Bad Id', timezone: 'UTC' }, 'id'],
      [{ timezone: 'UTC' }, 'id'],
      [{ id: 'x'.repeat(65) }, 'id'],
    ];
    for (const [body, field] of cases) {
      const r = await createTenant(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
      expect(r.body.error.issues.map((i: any) => i.path)).toContain(field);
      if (field === 'timezone') expect(r.body.error.message).toMatch(/^invalid body: timezone: .*IANA/);
    }
    expect((await createTenant({ id: 'extra', foo: 1 })).status).toBe(400);
    const ids = (await svc.request('GET', '/v1/admin/tenants')).body.tenants.map((t: any) => t.id);
    expect(ids).not.toContain('badzone');
    expect(ids).not.toContain('extra');
  });
});

describe('the service admin key', () => {
  it('is generated into <data dir>/admin.key with mode 0600 and never logged', async () => {
    const file = path.join(svc.dataDir, 'admin.key');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toBe(svc.adminKey);
    expect(svc.adminKey).toMatch(/^sm_[A-Za-z0-9_-]{43}$/);
    const loaded = svc.logs.find((l) => l.msg === 'admin key loaded');
    expect(loaded?.source).toBe(file);
    expect(svc.logText()).not.toContain(svc.adminKey);
  });

  it('comes from STRIPEMETER_ADMIN_KEY when set, and stored keys survive the restart', async () => {
    const fileKey = svc.adminKey;
    const tenantKey = await newKey({ tenantId: 'demo', scopes: ['read'], name: 'survives' });
    const revoked = await newKey({ tenantId: 'demo', scopes: ['read'], name: 'stays-revoked' });
    expect((await svc.request('POST', `/v1/admin/api-keys/${revoked.id}/revoke`)).status).toBe(200);

    const envKey = `env-admin-${'k'.repeat(30)}`;
    await svc.stop();
    svc = await startTestService({ STRIPEMETER_ADMIN_KEY: envKey }, svc.dataDir);
    expect(svc.adminKey).toBe(envKey);
    expect((await svc.request('GET', '/v1/admin/tenants', { key: envKey })).status).toBe(200);
    expect((await withApiKeyHeader('GET', '/v1/admin/tenants', envKey)).status).toBe(200);
    expect((await createTenant({ id: 'env-made' }, envKey)).status).toBe(201);
    // The file's key is not an admin key while the variable is set.
    expect((await svc.request('GET', '/v1/admin/tenants', { key: fileKey })).status).toBe(401);
    expect(svc.logs.find((l) => l.msg === 'admin key loaded')?.source).toBe('STRIPEMETER_ADMIN_KEY');
    expect(svc.logText()).not.toContain(envKey);

    expect((await usage('demo', 'm_any', tenantKey.key)).status).toBe(200);
    expect((await usage('demo', 'm_any', revoked.key)).status).toBe(401);
  });

  it('refuses a short STRIPEMETER_ADMIN_KEY', () => {
    expect(() => loadConfig({ STRIPEMETER_ADMIN_KEY: 'short' })).toThrow(ConfigError);
    expect(() => loadConfig({ STRIPEMETER_ADMIN_KEY: 'short' })).toThrow(/STRIPEMETER_ADMIN_KEY/);
  });
});
