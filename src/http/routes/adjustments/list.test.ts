import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../../../../test/support/service.js';

let svc: TestService;
const period = new Date().toISOString().slice(0, 7);

beforeAll(async () => {
  svc = await startTestService({ PUSH_INTERVAL: 'PT1H', RECON_INTERVAL: 'PT1H' });
});
afterAll(async () => {
  await svc?.destroy();
});

async function create(delta: number) {
  const body = { tenantId: 'demo', metric: 'm_list', customerRef: 'cus_list', period, delta, reason: 'credit' };
  const r = await svc.request('POST', '/v1/adjustments', { body });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.id as string;
}

type Page = { adjustments: Array<{ id: string; createdAt: string }>; nextCursor: string | null };
const list = async (query: string): Promise<Page> => {
  const r = await svc.request('GET', `/v1/adjustments?tenantId=demo&metric=m_list${query}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
};

describe('GET /v1/adjustments', () => {
  it('pages newest first by a cursor that neither new adjustments nor status changes move', async () => {
    for (let i = 1; i <= 5; i++) await create(i);
    const all = await list('');
    expect(all.nextCursor).toBeNull();
    const order = all.adjustments.map((a) => `${a.createdAt} ${a.id}`);
    expect(order).toEqual([...order].sort().reverse());
    const ids = all.adjustments.map((a) => a.id);

    const first = await list('&limit=2');
    expect(first.adjustments.map((a) => a.id)).toEqual(ids.slice(0, 2));
    // Between pages: a new adjustment, and a newer version of one on a later page (approved).
    const newer = await create(6);
    expect((await svc.request('POST', `/v1/adjustments/${ids[3]}/approve`)).status).toBe(200);
    const rest: string[] = [];
    let cursor = first.nextCursor;
    while (cursor) {
      const p = await list(`&limit=2&cursor=${cursor}`);
      rest.push(...p.adjustments.map((a) => a.id));
      cursor = p.nextCursor;
    }
    // None is repeated or skipped; one created in the cursor's own second may sort after it.
    expect(rest.filter((id) => id !== newer)).toEqual(ids.slice(2));
    expect((await list('&status=approved')).adjustments.map((a) => a.id)).toEqual([ids[3]]);
  });

  it('refuses a limit beyond 1000 and a cursor it did not give', async () => {
    expect((await svc.request('GET', '/v1/adjustments?tenantId=demo&limit=1001')).status).toBe(400);
    expect((await svc.request('GET', '/v1/adjustments?tenantId=demo&cursor=WzEsMl0')).body.error.code).toBe('invalid_request');
  });
});
