import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { event, startTestService, type TestService } from '../support/service.js';

// Hostile inputs that used to be accepted, dropped or rounded: each must be kept exactly or refused with a 4xx.
let svc: TestService;

beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.destroy();
});

const post = (urlPath: string, body: string, contentType = 'application/json') =>
  svc.request('POST', urlPath, { body, headers: { 'content-type': contentType } });
const stored = async (metric: string) => {
  const r = await svc.request('GET', `/v1/events?tenantId=demo&metric=${metric}`);
  expect(r.status).toBe(200);
  return r.body.events as Array<{ idempotencyKey: string; quantity: string; meta: Record<string, string> }>;
};

describe('meta keys that name Object internals', () => {
  it('refuses __proto__ per event, naming the field, and stores the rest of the batch', async () => {
    const body = `{"events":[
      ${JSON.stringify(event({ metric: 'm_proto', idempotencyKey: 'p1' })).replace('}', ',"meta":{"__proto__":"x","a":"b"}}')},
      ${JSON.stringify(event({ metric: 'm_proto', idempotencyKey: 'p2', meta: { a: 'b' } }))}]}`;
    const r = await post('/v1/events/ingest', body);
    expect(r.status).toBe(200);
    expect(r.body.results[0]).toMatchObject({
      status: 'rejected',
      idempotencyKey: 'p1',
      error: { code: 'invalid_event', field: 'events[0].meta.__proto__' },
    });
    expect(r.body.results[1].status).toBe('accepted');
    expect((await stored('m_proto')).map((e) => e.idempotencyKey)).toEqual(['p2']);
  });

  it('keeps constructor, prototype and toString as ordinary keys', async () => {
    const meta = { constructor: 'c', prototype: 'p', toString: 't', hasOwnProperty: 'h' };
    const r = await post('/v1/events/ingest', JSON.stringify({ events: [event({ metric: 'm_ctor', idempotencyKey: 'c1', meta })] }));
    expect(r.body.results[0].status).toBe('accepted');
    expect((await stored('m_ctor'))[0]!.meta).toEqual(meta);
  });

  it('refuses __proto__ as an event field or body field instead of ignoring it', async () => {
    const e = JSON.stringify(event({ metric: 'm_proto2' })).replace('}', ',"__proto__":{"quantity":5}}');
    const r = await post('/v1/events/ingest', `{"events":[${e}]}`);
    expect(r.body.results[0]).toMatchObject({ status: 'rejected', error: { code: 'invalid_event' } });
    expect(r.body.results[0].error.message).toContain('__proto__');
    const tenant = await post('/v1/admin/tenants', '{"id":"protoco","__proto__":{"timezone":"Europe/Berlin"}}');
    expect(tenant.status).toBe(400);
    expect(tenant.body.error.code).toBe('invalid_request');
  });
});

describe('periods and timestamps in queries', () => {
  const bad = [
    '/v1/usage?tenantId=demo&metric=m&period=0000-01',
    '/v1/usage?tenantId=demo&metric=m&period=9999-12',
    '/v1/usage?tenantId=demo&metric=m&period=1969-12',
    '/v1/usage/history?tenantId=demo&metric=m&since=0000-01-01T00:00:00Z&until=0000-01-02T00:00:00Z',
    '/v1/usage/history?tenantId=demo&metric=m&since=2099-12-31T00:00:00Z&until=2100-01-01T00:00:00Z',
    '/v1/events?tenantId=demo&since=0001-01-01T00:00:00Z',
    '/v1/events?tenantId=demo&until=9999-12-31T23:59:59Z',
    '/v1/adjustments?tenantId=demo&period=0000-01',
    '/v1/reconciliation/summary?tenantId=demo&period=0000-01',
  ];
  for (const url of bad) {
    it(`400 for ${url.split('?')[1]} on ${url.split('?')[0]}`, async () => {
      const r = await svc.request('GET', url);
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
      expect(r.body.error.message).toMatch(/1970|2099/);
    });
  }

  it('still answers the edges of the range', async () => {
    expect((await svc.request('GET', '/v1/usage?tenantId=demo&metric=m&period=1970-01')).status).toBe(200);
    expect((await svc.request('GET', '/v1/usage?tenantId=demo&metric=m&period=2099-12')).status).toBe(200);
    expect((await svc.request('GET', '/v1/events?tenantId=demo&since=1970-01-01T00:00:00Z&until=1970-01-02T00:00:00Z')).status).toBe(200);
  });

  it('400 for a period or window out of range in a body', async () => {
    const adjustment = { tenantId: 'demo', metric: 'm', customerRef: 'c', period: '0000-01', delta: '1', reason: 'manual' };
    const a = await post('/v1/adjustments', JSON.stringify(adjustment));
    expect(a.status).toBe(400);
    expect(a.body.error.issues[0].path).toBe('period');
    const replay = { tenantId: 'demo', metrics: ['m'], since: '0000-01-01T00:00:00Z', until: '0000-01-02T00:00:00Z', mode: 'dry-run' };
    const r = await post('/v1/replay', JSON.stringify(replay));
    expect(r.status).toBe(400);
    expect(r.body.error.message).toContain('1970');
  });
});

describe('charsets', () => {
  const routes: Array<[string, string]> = [
    ['/v1/events/ingest', JSON.stringify({ events: [event({ metric: 'm_charset' })] })],
    ['/v1/admin/tenants', JSON.stringify({ id: 'charsetco' })],
    ['/v1/push/run', JSON.stringify({ tenantId: 'demo' })],
  ];
  for (const [route, body] of routes) {
    it(`415 for a UTF-16 body on ${route}, and for any charset but utf-8`, async () => {
      for (const charset of ['utf-16', 'UTF-16LE', 'iso-8859-1', '"utf-16"', 'utf8', '']) {
        const r = await post(route, body, `application/json; charset=${charset}`);
        expect(r.status, charset).toBe(415);
        expect(r.body.error.code).toBe('unsupported_media_type');
      }
    });
  }

  it('accepts utf-8 in any case, quoted, and no charset', async () => {
    for (const contentType of ['application/json', 'application/json; charset=utf-8', 'application/json;charset=UTF-8', 'application/json; charset="Utf-8"']) {
      const r = await post('/v1/events/ingest', JSON.stringify({ events: [event({ metric: 'm_utf8', quantity: 1 })] }), contentType);
      expect(r.status, contentType).toBe(200);
    }
    expect((await stored('m_utf8')).length).toBeGreaterThanOrEqual(1);
  });

  it('400 for bytes that are not UTF-8 instead of storing U+FFFD', async () => {
    const text = JSON.stringify({ events: [event({ metric: 'm_charset', customerRef: 'XX' })] });
    const [before, after] = text.split('XX') as [string, string];
    const res = await fetch(`${svc.url}/v1/events/ingest`, {
      method: 'POST',
      headers: { authorization: `Bearer ${svc.adminKey}`, 'content-type': 'application/json' },
      body: Buffer.concat([Buffer.from(before), Buffer.from([0x63, 0xff, 0xc0, 0x80]), Buffer.from(after)]),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error).toMatchObject({ code: 'invalid_json', message: 'body is not valid UTF-8' });
  });

  it('nothing was stored from the refused bodies', async () => {
    expect(await stored('m_charset')).toEqual([]);
  });
});

describe('JSON numbers a double cannot hold', () => {
  const ingestRaw = (events: string[]) => post('/v1/events/ingest', `{"events":[${events.join(',')}]}`);
  const withQuantity = (key: string, quantity: string, extra = '') =>
    `{"tenantId":"demo","metric":"m_big","customerRef":"c","ts":"${new Date().toISOString()}","idempotencyKey":"${key}","quantity":${quantity}${extra}}`;

  it('refuses 2^53 + 1 as a number per event, telling the client to send a string, and keeps strings exact', async () => {
    const r = await ingestRaw([
      withQuantity('n1', '9007199254740993'),
      withQuantity('n2', '"999999999999999.999999"'),
      withQuantity('n3', '999999999999999'),
      withQuantity('n4', '1.00000000000000001'),
      withQuantity('n5', '1e400'),
      withQuantity('n6', '0.1'),
      withQuantity('n7', '1e2'),
      withQuantity('n8', '12345678901234567890123456789012'),
    ]);
    expect(r.status).toBe(200);
    const byKey = Object.fromEntries(r.body.results.map((x: any) => [x.idempotencyKey, x]));
    for (const key of ['n1', 'n4', 'n5', 'n8']) {
      expect(byKey[key], key).toMatchObject({ status: 'rejected', error: { code: 'invalid_event', field: `events[${Number(key[1]) - 1}].quantity` } });
      expect(byKey[key].error.message).toContain('send it as a string');
    }
    for (const key of ['n2', 'n3', 'n6', 'n7']) expect(byKey[key].status, key).toBe('accepted');
    const quantities = Object.fromEntries((await stored('m_big')).map((e) => [e.idempotencyKey, e.quantity]));
    // The largest quantity there is (docs/totals.md), exact as a string and as a number a double holds.
    expect(quantities).toEqual({ n2: '999999999999999.999999', n3: '999999999999999', n6: '0.1', n7: '100' });
  });

  it('names the field wherever the number sits in an event', async () => {
    const r = await ingestRaw([withQuantity('x1', '1', ',"meta":{"a":9007199254740993}'), withQuantity('x2', '1', ',"resourceId":123456789012345678')]);
    expect(r.body.results[0].error).toMatchObject({ code: 'invalid_event', field: 'events[0].meta.a' });
    expect(r.body.results[1].error).toMatchObject({ code: 'invalid_event', field: 'events[1].resourceId' });
    for (const result of r.body.results) expect(result.error.message).toContain('send it as a string');
  });

  it('reads numbers inside strings as text (no false refusals)', async () => {
    const r = await ingestRaw([withQuantity('s1', '2', ',"meta":{"note":"x:12345678901234567890, y:1e999"}')]);
    expect(r.body.results[0].status).toBe('accepted');
  });

  it('refuses such a number in other bodies with a 400 naming the field', async () => {
    const body = '{"tenantId":"demo","metric":"m","customerRef":"c","period":"2026-01","delta":-9007199254740993,"reason":"manual"}';
    const r = await post('/v1/adjustments', body);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'invalid_request', issues: [{ path: 'delta' }] });
    expect(r.body.error.message).toContain('send it as a string');
  });
});
