import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { event, startTestService, type TestService } from '../../../../test/support/service.js';
import { pageIds } from '../../../../test/support/pages.js';

let svc: TestService;
const since = () => new Date(Date.now() - 3600_000).toISOString();
const dryRun = (tenantId: string) => ({ tenantId, metrics: ['requests'], since: since(), mode: 'dry-run' });

beforeAll(async () => {
  svc = await startTestService({ PUSH_INTERVAL: 'PT1H', RECON_INTERVAL: 'PT1H' });
  expect((await svc.request('POST', '/v1/admin/tenants', { body: { id: 'other' } })).status).toBe(201);
  const events = ['demo', 'other'].map((tenantId) => event({ tenantId, idempotencyKey: `rl-${tenantId}` }));
  expect((await svc.request('POST', '/v1/events/ingest', { body: { events } })).body.accepted).toBe(2);
});
afterAll(async () => {
  await svc?.destroy();
});

async function replay(body: object) {
  const r = await svc.request('POST', '/v1/replay', { body });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.id as string;
}

/** The ids of every page from `url` on, following nextCursor. */
const pages = (url: string, opts: { key?: string; cursor?: string } = {}) => pageIds(svc, url, 'runs', opts);

async function key(tenantId: string, scopes: string[]) {
  return (await svc.request('POST', '/v1/admin/api-keys', { body: { tenantId, scopes } })).body.key as string;
}

describe('GET /v1/replay', () => {
  it('lists runs newest first with their summary, paged by a cursor that new runs do not move', async () => {
    const made = [await replay(dryRun('demo')), await replay({ ...dryRun('demo'), mode: 'apply' })];
    for (let i = 0; i < 3; i++) made.push(await replay(dryRun('demo')));
    const all = await svc.request('GET', '/v1/replay?tenantId=demo');
    expect(all.body.nextCursor).toBeNull();
    const runs = all.body.runs as Array<{ id: string; startedAt: string }>;
    expect(runs.map((r) => r.id).sort()).toEqual([...made].sort());
    // Newest first; runs of one second by id, descending.
    const order = runs.map((r) => `${r.startedAt} ${r.id}`);
    expect(order).toEqual([...order].sort().reverse());
    const ids = runs.map((r) => r.id);
    const apply = all.body.runs.find((r: { mode: string }) => r.mode === 'apply');
    expect(apply).toMatchObject({ tenantId: 'demo', status: 'succeeded', progress: 1, metrics: ['requests'], customers: 0, error: null, createdBy: 'admin' });
    expect(apply.summary).toMatchObject({ eventsScanned: 1, changed: 0, delta: '0' });
    expect(apply.window.since <= apply.window.until).toBe(true);

    const first = await svc.request('GET', '/v1/replay?tenantId=demo&limit=2');
    expect(first.body.runs.map((r: { id: string }) => r.id)).toEqual(ids.slice(0, 2));
    const newer = await replay(dryRun('demo'));
    // A run started between pages moves none after the cursor: none is repeated or skipped. (One started in the
    // cursor's own second may sort after it, by its id.)
    const rest = await pages('/v1/replay?tenantId=demo&limit=2', { cursor: first.body.nextCursor });
    expect(rest.filter((id) => id !== newer)).toEqual(ids.slice(2));
    expect((await pages('/v1/replay?tenantId=demo&limit=2')).filter((id) => id !== newer)).toEqual(ids);
  });

  it('filters by status and mode', async () => {
    const applies = (await svc.request('GET', '/v1/replay?tenantId=demo&mode=apply')).body.runs;
    expect(applies.length).toBeGreaterThan(0);
    expect(applies.every((r: { mode: string }) => r.mode === 'apply')).toBe(true);
    expect((await svc.request('GET', '/v1/replay?tenantId=demo&status=running')).body.runs).toEqual([]);
    expect((await svc.request('GET', '/v1/replay?tenantId=demo&status=done')).status).toBe(400);
  });

  it("shows a tenant's key its tenant's runs only, the service admin key every tenant's", async () => {
    const theirs = await replay(dryRun('other'));
    const read = await key('other', ['read']);
    expect(await pages('/v1/replay?limit=10', { key: read })).toEqual([theirs]);
    expect(await pages('/v1/replay?tenantId=other&limit=10', { key: read })).toEqual([theirs]);
    expect((await svc.request('GET', '/v1/replay?tenantId=demo', { key: read })).status).toBe(403);
    expect((await svc.request('GET', '/v1/replay', { key: await key('other', ['ingest']) })).status).toBe(403);
    const everyTenant = await pages('/v1/replay?limit=3');
    expect(everyTenant).toContain(theirs);
    expect(everyTenant.length).toBeGreaterThan(6);
    expect((await svc.request('GET', '/v1/replay?tenantId=nobody')).body.error.code).toBe('unknown_tenant');
    expect((await svc.request('GET', '/v1/replay?cursor=bm9wZQ')).body.error.code).toBe('invalid_request');
  });
});
