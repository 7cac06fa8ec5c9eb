import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../../../../test/support/service.js';

// CloudEvents (structured mode, JSON data) on POST /v1/events/ingest, mapped to the ingest event.
let svc: TestService;

beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.destroy();
});

const batchType = 'application/cloudevents-batch+json';
const singleType = 'application/cloudevents+json';
const send = (body: unknown, contentType: string, key?: string) =>
  svc.request('POST', '/v1/events/ingest', { body: typeof body === 'string' ? body : JSON.stringify(body), key, headers: { 'content-type': contentType } });
const cloudEvent = (overrides: Record<string, unknown> = {}, data: Record<string, unknown> = {}) => ({
  specversion: '1.0',
  id: `ce-${Math.random().toString(36).slice(2)}`,
  source: '/services/api',
  type: 'api_calls',
  subject: 'cus_ce',
  time: new Date(Date.now() - 1000).toISOString(),
  data: { tenantId: 'demo', quantity: 2, ...data },
  ...overrides,
});
const stored = async (metric: string, tenantId = 'demo') => {
  const r = await svc.request('GET', `/v1/events?tenantId=${tenantId}&metric=${metric}`);
  expect(r.status).toBe(200);
  return r.body.events as Array<Record<string, any>>;
};

describe('CloudEvents on ingest', () => {
  it('maps a batch field by field and counts it', async () => {
    const time = new Date(Date.now() - 5000).toISOString();
    const r = await send(
      [
        cloudEvent({ id: 'ce-1', type: 'ce_calls', time }, { quantity: '1.5', region: 'eu', model: 'small' }),
        cloudEvent({ id: 'ce-2', type: 'ce_calls', subject: 'cus_other', source: 'collector-7' }, { quantity: undefined, value: 3 }),
      ],
      batchType,
    );
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ accepted: 2, duplicates: 0, rejected: 0 });
    expect(r.body.results.map((x: any) => [x.index, x.idempotencyKey, x.status])).toEqual([
      [0, 'ce-1', 'accepted'],
      [1, 'ce-2', 'accepted'],
    ]);
    const events = Object.fromEntries((await stored('ce_calls')).map((e) => [e.idempotencyKey, e]));
    expect(events['ce-1']).toMatchObject({ customerRef: 'cus_ce', quantity: '1.5', source: '/services/api', meta: { region: 'eu', model: 'small' } });
    expect(Date.parse(events['ce-1']!.ts)).toBe(Date.parse(time));
    expect(events['ce-2']).toMatchObject({ customerRef: 'cus_other', quantity: '3', source: 'collector-7', meta: {} });
    expect((await svc.request('GET', '/v1/usage?tenantId=demo&metric=ce_calls')).body.total).toBe('4.5');
  });

  it('takes one event as application/cloudevents+json, and a re-send is a duplicate', async () => {
    const one = cloudEvent({ id: 'ce-single', type: 'ce_single' });
    const first = await send(one, singleType);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ accepted: 1, results: [{ index: 0, idempotencyKey: 'ce-single', status: 'accepted' }] });
    const again = await send([one], batchType);
    expect(again.body).toMatchObject({ accepted: 0, duplicates: 1 });
    // The same id with other content is the ingest conflict.
    const changed = await send({ ...one, data: { tenantId: 'demo', quantity: 7 } }, singleType);
    expect(changed.body.results[0]).toMatchObject({ status: 'rejected', error: { code: 'conflict' } });
    expect((await svc.request('GET', '/v1/usage?tenantId=demo&metric=ce_single')).body.total).toBe('2');
  });

  it("uses the key's tenant when data has no tenantId, and refuses another tenant's", async () => {
    await svc.request('POST', '/v1/admin/tenants', { body: { id: 'ce-tenant' } });
    const created = await svc.request('POST', '/v1/admin/api-keys', { body: { tenantId: 'ce-tenant', scopes: ['ingest', 'read'] } });
    expect(created.status).toBe(201);
    const key = created.body.key as string;
    const noTenant = cloudEvent({ id: 'ce-t1', type: 'ce_tenant' }, { tenantId: undefined });
    const r = await send([JSON.parse(JSON.stringify(noTenant))], batchType, key);
    expect(r.body).toMatchObject({ accepted: 1 });
    expect((await stored('ce_tenant', 'ce-tenant')).map((e) => e.idempotencyKey)).toEqual(['ce-t1']);
    const other = await send([cloudEvent({ id: 'ce-t2', type: 'ce_tenant' })], batchType, key);
    expect(other.status).toBe(403);
    // The service admin key is bound to no tenant: data.tenantId is then required, per event.
    const rootless = await send([JSON.parse(JSON.stringify(noTenant))], batchType);
    expect(rootless.body.results[0]).toMatchObject({ status: 'rejected', error: { code: 'invalid_event', field: '[0].data.tenantId' } });
  });

  it('rejects bad events one by one, naming the CloudEvent field, and stores the rest', async () => {
    const good = cloudEvent({ id: 'ce-good', type: 'ce_bad' });
    const bad = [
      cloudEvent({ id: 'b-spec', type: 'ce_bad', specversion: '0.3' }),
      cloudEvent({ id: 'b-subject', type: 'ce_bad', subject: undefined }),
      cloudEvent({ id: 'b-type', type: 'not a metric!' }),
      cloudEvent({ id: 'b-time', type: 'ce_bad', time: 'yesterday' }),
      cloudEvent({ id: 'b-qty', type: 'ce_bad' }, { quantity: -1 }),
      cloudEvent({ id: 'b-both', type: 'ce_bad' }, { value: 1 }),
      cloudEvent({ id: 'b-none', type: 'ce_bad' }, { quantity: undefined }),
      cloudEvent({ id: 'b-meta', type: 'ce_bad' }, { retries: 3 }),
      cloudEvent({ id: 'b-ext', type: 'ce_bad', traceparent: '00-abc' }),
      cloudEvent({ id: 'b-b64', type: 'ce_bad', data_base64: 'AAAA' }),
      cloudEvent({ id: 'b-ctype', type: 'ce_bad', datacontenttype: 'text/plain' }),
      cloudEvent({ id: 'b-data', type: 'ce_bad', data: 'text' }),
      'not an event',
    ];
    const r = await send(JSON.parse(JSON.stringify([good, ...bad])), batchType);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ accepted: 1, rejected: bad.length });
    const fields = r.body.results.slice(1).map((x: any) => [x.idempotencyKey, x.status, x.error.code, x.error.field]);
    expect(fields).toEqual([
      ['b-spec', 'rejected', 'invalid_event', '[1].specversion'],
      ['b-subject', 'rejected', 'invalid_event', '[2].subject'],
      ['b-type', 'rejected', 'invalid_event', '[3].type'],
      ['b-time', 'rejected', 'invalid_event', '[4].time'],
      ['b-qty', 'rejected', 'invalid_event', '[5].data.quantity'],
      ['b-both', 'rejected', 'invalid_event', '[6].data.value'],
      ['b-none', 'rejected', 'invalid_event', '[7].data.quantity'],
      ['b-meta', 'rejected', 'invalid_event', '[8].data.retries'],
      ['b-ext', 'rejected', 'invalid_event', '[9].traceparent'],
      ['b-b64', 'rejected', 'invalid_event', '[10].data_base64'],
      ['b-ctype', 'rejected', 'invalid_event', '[11].datacontenttype'],
      ['b-data', 'rejected', 'invalid_event', '[12].data'],
      [null, 'rejected', 'invalid_event', undefined],
    ]);
    expect((await stored('ce_bad')).map((e) => e.idempotencyKey)).toEqual(['ce-good']);
  });

  it('refuses inexact numbers and a __proto__ data member by their CloudEvent path', async () => {
    const inexact = JSON.stringify(cloudEvent({ id: 'x-big', type: 'ce_exact' })).replace('"quantity":2', '"quantity":9007199254740993');
    const proto = JSON.stringify(cloudEvent({ id: 'x-proto', type: 'ce_exact' })).replace('"quantity":2', '"quantity":2,"__proto__":"x"');
    const r = await send(`[${inexact},${proto}]`, batchType);
    expect(r.body.results[0]).toMatchObject({ idempotencyKey: 'x-big', status: 'rejected', error: { field: '[0].data.quantity' } });
    expect(r.body.results[0].error.message).toContain('send it as a string');
    expect(r.body.results[1]).toMatchObject({ idempotencyKey: 'x-proto', status: 'rejected', error: { field: '[1].data.__proto__' } });
    expect(await stored('ce_exact')).toEqual([]);
  });

  it('400 for a batch that is not an array of 1 to 10,000, 415 for CloudEvents on other routes', async () => {
    for (const body of ['{}', '[]', '"x"', `[${Array.from({ length: 10_001 }, () => '{}').join(',')}]`]) {
      const r = await send(body, batchType);
      expect(r.status, body.slice(0, 20)).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
    }
    expect((await send('[{', batchType)).body.error.code).toBe('invalid_json');
    const other = await svc.request('POST', '/v1/admin/tenants', { body: '{"id":"ce-x"}', headers: { 'content-type': singleType } });
    expect(other.status).toBe(415);
    const charset = await send([cloudEvent()], `${batchType}; charset=utf-16`);
    expect(charset.status).toBe(415);
  });
});
