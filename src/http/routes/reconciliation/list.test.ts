import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { event, startTestService, type TestService } from '../../../../test/support/service.js';
import { tenantWithMeter } from '../../../../test/support/stripe.js';
import { pageIds } from '../../../../test/support/pages.js';

let svc: TestService;

beforeAll(async () => {
  svc = await startTestService({ STRIPEMETER_DEMO_TENANT: 'false', PUSH_INTERVAL: 'PT1H', RECON_INTERVAL: 'PT1H' });
  await tenantWithMeter(svc, 'rl_a', 'calls', ['a_cus']);
  expect((await svc.request('POST', '/v1/admin/tenants', { body: { id: 'rl_b' } })).status).toBe(201);
  const events = [event({ tenantId: 'rl_a', metric: 'calls', customerRef: 'a_cus', quantity: 3, idempotencyKey: 'rl-1' })];
  expect((await svc.request('POST', '/v1/events/ingest', { body: { events } })).body.accepted).toBe(1);
  expect((await svc.request('POST', '/v1/push/run', { body: { tenantId: 'rl_a' } })).body.acked).toBe(1);
});
afterAll(async () => {
  await svc?.destroy();
});

async function run(tenantId: string) {
  const r = await svc.request('POST', '/v1/reconciliation/run', { body: { tenantId } });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.id as string;
}

/** The ids of every page from `url` on, following nextCursor. */
const pages = (url: string, opts: { key?: string; cursor?: string } = {}) => pageIds(svc, url, 'runs', opts);

describe('GET /v1/reconciliation/runs', () => {
  it('lists runs newest first without their items, paged by a cursor that new runs do not move', async () => {
    // The summary's own run (none existed yet), then runs by the API.
    expect((await svc.request('GET', '/v1/reconciliation/summary?tenantId=rl_a')).status).toBe(200);
    for (let i = 0; i < 4; i++) await run('rl_a');
    const all = await svc.request('GET', '/v1/reconciliation/runs?tenantId=rl_a');
    expect(all.body.nextCursor).toBeNull();
    const runs = all.body.runs as Array<{ id: string; startedAt: string; trigger: string }>;
    expect(runs.map((r) => r.trigger).sort()).toEqual(['api', 'api', 'api', 'api', 'summary']);
    const order = runs.map((r) => `${r.startedAt} ${r.id}`);
    expect(order).toEqual([...order].sort().reverse());
    expect(all.body.runs[0]).toEqual({
      id: expect.stringMatching(/^rec_/),
      tenantId: 'rl_a',
      metric: null,
      trigger: 'api',
      status: 'succeeded',
      periods: expect.any(Array),
      itemCount: 1,
      counts: { ok: 1 },
      error: null,
      startedAt: expect.any(String),
      finishedAt: expect.any(String),
    });
    const ids = runs.map((r) => r.id);

    const first = await svc.request('GET', '/v1/reconciliation/runs?tenantId=rl_a&limit=2');
    expect(first.body.runs.map((r: { id: string }) => r.id)).toEqual(ids.slice(0, 2));
    const newer = await run('rl_a');
    // None is repeated or skipped; one started in the cursor's own second may sort after it.
    const rest = await pages('/v1/reconciliation/runs?tenantId=rl_a&limit=2', { cursor: first.body.nextCursor });
    expect(rest.filter((id) => id !== newer)).toEqual(ids.slice(2));
  });

  it('filters by trigger and status', async () => {
    const summaryRuns = (await svc.request('GET', '/v1/reconciliation/runs?tenantId=rl_a&trigger=summary')).body.runs;
    expect(summaryRuns.map((r: { trigger: string }) => r.trigger)).toEqual(['summary']);
    expect((await svc.request('GET', '/v1/reconciliation/runs?tenantId=rl_a&trigger=schedule')).body.runs).toEqual([]);
    expect((await svc.request('GET', '/v1/reconciliation/runs?tenantId=rl_a&status=succeeded&limit=1000')).body.runs).toHaveLength(6);
    expect((await svc.request('GET', '/v1/reconciliation/runs?tenantId=rl_a&status=failed')).body.runs).toEqual([]);
    expect((await svc.request('GET', '/v1/reconciliation/runs?trigger=cron')).status).toBe(400);
  });

  it("shows a tenant's key its tenant's runs only, the service admin key every tenant's", async () => {
    const theirs = await run('rl_b');
    const read = (await svc.request('POST', '/v1/admin/api-keys', { body: { tenantId: 'rl_b', scopes: ['read'] } })).body.key;
    expect(await pages('/v1/reconciliation/runs?limit=10', { key: read })).toEqual([theirs]);
    expect((await svc.request('GET', '/v1/reconciliation/runs?tenantId=rl_a', { key: read })).status).toBe(403);
    const everyTenant = await pages('/v1/reconciliation/runs?limit=4');
    expect(everyTenant).toHaveLength(7);
    expect(everyTenant).toContain(theirs);
    expect((await svc.request('GET', '/v1/reconciliation/runs?tenantId=nobody')).body.error.code).toBe('unknown_tenant');
    expect((await svc.request('GET', '/v1/reconciliation/runs?limit=1001')).status).toBe(400);
  });
});
