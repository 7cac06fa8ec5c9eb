import http from 'node:http';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { createGzip, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { event, startTestService, type TestService } from '../../../test/support/service.js';
import { maxBodyBytes } from '../routes/events/schema.js';

// Compressed request bodies: inflated as they arrive, the size limit counted on the inflated bytes.
let svc: TestService;

beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.destroy();
});

const post = async (urlPath: string, body: Buffer, headers: Record<string, string>) => {
  const res = await fetch(`${svc.url}${urlPath}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${svc.adminKey}`, 'content-type': 'application/json', ...headers },
    body,
  });
  return { status: res.status, body: (await res.json()) as any };
};
const batch = (metric: string, key: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ events: [event({ metric, idempotencyKey: key, quantity: '2.5', ...extra })] });
const total = async (metric: string) => (await svc.request('GET', `/v1/usage?tenantId=demo&metric=${metric}`)).body.total;

/** `size` bytes of a JSON batch (one event padded in meta), gzipped as a stream: a few KB on the wire. */
async function gzippedPadding(size: number): Promise<Buffer> {
  const head = Buffer.from(batch('m_bomb', 'bomb').replace('"meta":', '"x":').replace('}]}', ',"meta":{"pad":"'));
  const tail = Buffer.from('"}}]}');
  const block = Buffer.alloc(1024 * 1024, 0x61);
  async function* text() {
    yield head;
    for (let left = size - head.length - tail.length; left > 0; left -= block.length) yield left >= block.length ? block : block.subarray(0, left);
    yield tail;
  }
  return buffer(Readable.from(text()).pipe(createGzip({ level: 9 })));
}

describe('Content-Encoding on ingest', () => {
  it('takes gzip and deflate bodies, in any case of the header', async () => {
    for (const [encoding, compress] of [
      ['gzip', gzipSync],
      ['GZIP', gzipSync],
      ['deflate', deflateSync],
    ] as const) {
      const r = await post('/v1/events/ingest', compress(Buffer.from(batch('m_gzip', `g-${encoding}`))), { 'content-encoding': encoding });
      expect(r.status, encoding).toBe(200);
      expect(r.body).toMatchObject({ accepted: 1, rejected: 0 });
    }
    expect(await total('m_gzip')).toBe('7.5');
  });

  it('takes compressed bodies on every JSON route', async () => {
    const r = await post('/v1/admin/tenants', gzipSync(Buffer.from(JSON.stringify({ id: 'gzipco' }))), { 'content-encoding': 'gzip' });
    expect(r.status).toBe(201);
    expect(r.body.id ?? r.body.tenant?.id).toBe('gzipco');
  });

  it('applies the limit to the inflated body: a small bomb is a 413 without memory growth', async () => {
    const bomb = await gzippedPadding(512 * 1024 * 1024);
    expect(bomb.length).toBeLessThan(maxBodyBytes / 4);
    global.gc?.();
    const before = process.memoryUsage().rss;
    const r = await post('/v1/events/ingest', bomb, { 'content-encoding': 'gzip' });
    expect(r.status).toBe(413);
    expect(r.body.error).toMatchObject({ code: 'payload_too_large', message: `body exceeds ${maxBodyBytes} bytes; split the batch` });
    // Inflating it whole would hold 512 MB; the service stops at the limit.
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);
    expect((await svc.request('GET', '/v1/events?tenantId=demo&metric=m_bomb')).body.events).toEqual([]);
  });

  it('413 for a chunked bomb too, and the connection still answers', async () => {
    const bomb = await gzippedPadding(64 * 1024 * 1024);
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        `${svc.url}/v1/events/ingest`,
        { method: 'POST', headers: { authorization: `Bearer ${svc.adminKey}`, 'content-type': 'application/json', 'content-encoding': 'gzip' } },
        (res) => {
          res.resume();
          resolve(res.statusCode!);
        },
      );
      req.on('error', reject);
      // No Content-Length: sent chunked, in pieces.
      for (let i = 0; i < bomb.length; i += 16 * 1024) req.write(bomb.subarray(i, i + 16 * 1024));
      req.end();
    });
    expect(status).toBe(413);
  });

  it('accepts a body that inflates to just under the limit', async () => {
    const r = await post('/v1/events/ingest', await gzippedPadding(maxBodyBytes - 8 * 1024), { 'content-encoding': 'gzip' });
    // Within the body limit; the event's meta is then too large, which is the event's own rejection.
    expect(r.status).toBe(200);
    expect(r.body.results[0]).toMatchObject({ status: 'rejected', error: { code: 'invalid_event' } });
  });

  it('400 for bytes that are not what the header says, 415 for other codings', async () => {
    const notGzip = await post('/v1/events/ingest', Buffer.from(batch('m_badzip', 'z1')), { 'content-encoding': 'gzip' });
    expect(notGzip.status).toBe(400);
    expect(notGzip.body.error).toMatchObject({ code: 'invalid_body_encoding', message: 'body is not valid gzip data' });
    const whole = gzipSync(Buffer.from(batch('m_badzip', 'z2')));
    const truncated = await post('/v1/events/ingest', whole.subarray(0, whole.length - 10), { 'content-encoding': 'gzip' });
    expect(truncated.status).toBe(400);
    expect(truncated.body.error.code).toBe('invalid_body_encoding');
    for (const encoding of ['br', 'compress', 'gzip, gzip', 'zstd']) {
      const r = await post('/v1/events/ingest', gzipSync(Buffer.from(batch('m_badzip', 'z3'))), { 'content-encoding': encoding });
      expect(r.status, encoding).toBe(415);
      expect(r.body.error.code).toBe('unsupported_content_encoding');
    }
    expect((await svc.request('GET', '/v1/events?tenantId=demo&metric=m_badzip')).body.events).toEqual([]);
  });

  it('keeps the checks of plain bodies: charset, UTF-8 and exact numbers', async () => {
    const utf16 = await post('/v1/events/ingest', gzipSync(Buffer.from(batch('m_gz_checks', 'c1'), 'utf16le')), {
      'content-encoding': 'gzip',
      'content-type': 'application/json; charset=utf-16',
    });
    expect(utf16.status).toBe(415);
    expect(utf16.body.error.code).toBe('unsupported_media_type');
    const [before, after] = batch('m_gz_checks', 'c2', { customerRef: 'XX' }).split('XX') as [string, string];
    const badUtf8 = gzipSync(Buffer.concat([Buffer.from(before), Buffer.from([0x63, 0xff]), Buffer.from(after)]));
    const bad = await post('/v1/events/ingest', badUtf8, { 'content-encoding': 'gzip' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'invalid_json', message: 'body is not valid UTF-8' });
    const inexact = batch('m_gz_checks', 'c3').replace('"2.5"', '9007199254740993');
    const r = await post('/v1/events/ingest', gzipSync(Buffer.from(inexact)), { 'content-encoding': 'gzip' });
    expect(r.body.results[0]).toMatchObject({ status: 'rejected', error: { field: 'events[0].quantity' } });
    expect((await svc.request('GET', '/v1/events?tenantId=demo&metric=m_gz_checks')).body.events).toEqual([]);
  });
});
