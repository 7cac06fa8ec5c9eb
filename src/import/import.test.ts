import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { event, startTestService, type TestService } from '../../test/support/service.js';
import { packageRoot } from '../storage/paths.js';
import { runImportCli, type ImportCliIo } from './cli.js';

let svc: TestService;
let dir: string;

beforeAll(async () => {
  svc = await startTestService();
  dir = mkdtempSync(path.join(os.tmpdir(), 'stripemeter-import-'));
});
afterAll(async () => {
  await svc?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

type Run = { code: number; out: string; err: string; requests: number; maxInFlight: number };

async function importCli(
  argv: string[],
  opts: { stdin?: Buffer | Readable; fetch?: typeof fetch; env?: Record<string, string>; tty?: boolean } = {},
): Promise<Run> {
  let out = '';
  let err = '';
  let requests = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const inner = opts.fetch ?? globalThis.fetch;
  const io: ImportCliIo = {
    env: { STRIPEMETER_URL: svc.url, STRIPEMETER_KEY: svc.adminKey, ...opts.env },
    out: (t) => (out += t),
    err: (t) => (err += t),
    stdin: () => (opts.stdin instanceof Readable ? opts.stdin : Readable.from([opts.stdin ?? Buffer.alloc(0)])),
    tty: opts.tty ?? false,
    fetch: (async (...args: Parameters<typeof fetch>) => {
      requests++;
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      try {
        return await inner(...args);
      } finally {
        inFlight--;
      }
    }) as typeof fetch,
  };
  const code = await runImportCli(argv, io);
  return { code, out, err, requests, maxInFlight };
}

const file = (name: string, content: string | Buffer) => {
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return p;
};
const ndjson = (events: unknown[]) => `${events.map((e) => JSON.stringify(e)).join('\n')}\n`;
const total = async (metric: string, period?: string) =>
  (await svc.request('GET', `/v1/usage?tenantId=demo&metric=${metric}${period ? `&period=${period}` : ''}`)).body.total;
const recent = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();

describe('stripemeter import', () => {
  it('imports NDJSON in batches with requests in flight; a re-run counts nothing twice', async () => {
    const events = Array.from({ length: 1000 }, (_, i) =>
      // Half with keys, half without: the service derives those keys from the content, the same on a re-run.
      event({ metric: 'imp_nd', customerRef: `cus_${i % 7}`, quantity: '0.5', ts: recent(60_000 + i), ...(i % 2 ? { idempotencyKey: `nd-${i}` } : {}) }),
    );
    const input = file('events.ndjson', ndjson(events));
    const first = await importCli([input, '--batch', '100', '--concurrency', '3']);
    expect(first.err).toBe('');
    expect(first.code).toBe(0);
    expect(first.out).toMatch(/^1000 lines in [\d.]+ s \(\d+\/s\): 1000 accepted, 0 duplicate, 0 rejected\n$/);
    expect(first.requests).toBe(10);
    expect(first.maxInFlight).toBe(3);
    expect(await total('imp_nd')).toBe('500');
    const again = await importCli([input]);
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/1000 lines .*: 0 accepted, 1000 duplicate, 0 rejected/);
    expect(again.requests).toBe(1);
    expect(await total('imp_nd')).toBe('500');
  });

  it('reads no further ahead than the batches in flight (memory stays flat), and draws progress on a terminal', async () => {
    let pulled = 0;
    let pulledWhileHeld = 0;
    const lines = 2000;
    const stdin = Readable.from(
      (function* () {
        for (let i = 0; i < lines; i++) {
          pulled++;
          yield Buffer.from(`${JSON.stringify(event({ metric: 'imp_flat', idempotencyKey: `flat-${i}` }))}\n`);
        }
      })(),
      { objectMode: false, highWaterMark: 1024 },
    );
    let calls = 0;
    const held = (async (...args: Parameters<typeof fetch>) => {
      // The first requests are held: the reader must stop at batch size x (requests in flight + the batch being filled).
      if (++calls <= 2) {
        await new Promise((r) => setTimeout(r, 400));
        pulledWhileHeld = Math.max(pulledWhileHeld, pulled);
      }
      return globalThis.fetch(...args);
    }) as typeof fetch;
    const r = await importCli(['-', '--batch', '200', '--concurrency', '2'], { stdin, fetch: held, tty: true });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/2000 lines .*: 2000 accepted/);
    expect(pulledWhileHeld).toBeGreaterThanOrEqual(400);
    expect(pulledWhileHeld).toBeLessThan(200 * 3 + 64);
    // A line redrawn in place with the rate, then cleared.
    expect(r.err).toMatch(/\r\d+ lines, \d+\/s, 0 rejected\x1b\[K/);
    expect(r.err.endsWith('\r\x1b[K')).toBe(true);
  });

  it('writes each rejected line with its reason to --errors, stores the rest, and exits 1', async () => {
    const lines = [
      JSON.stringify(event({ metric: 'imp_bad', idempotencyKey: 'ok-1', quantity: 1 })),
      '{"not json',
      JSON.stringify(event({ metric: 'imp_bad', idempotencyKey: 'neg', quantity: -1 })),
      JSON.stringify(event({ metric: 'imp_bad', idempotencyKey: 'who', tenantId: 'nobody' })),
      '',
      '[1, 2]',
      JSON.stringify(event({ metric: 'imp_bad', idempotencyKey: 'ok-2', quantity: 2 })),
    ];
    const input = file('bad.ndjson', `${lines.join('\n')}\n`);
    const errors = path.join(dir, 'bad.errors.jsonl');
    const r = await importCli([input, '--errors', errors]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/6 lines .*: 2 accepted, 0 duplicate, 4 rejected/);
    expect(r.out).toContain(`each line and its reason is in ${errors}`);
    const rejected = readFileSync(errors, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(rejected.map((x) => [x.line, x.code]).sort((a, b) => a[0] - b[0])).toEqual([
      [2, 'invalid_json'],
      [3, 'invalid_event'],
      // The service refuses a batch naming an unknown tenant as a whole: halved until the line stands alone.
      [4, 'unknown_tenant'],
      [6, 'invalid_json'],
    ]);
    expect(rejected.find((x) => x.line === 3)).toMatchObject({ field: 'quantity', input: lines[2] });
    expect(rejected.find((x) => x.line === 4).message).toMatch(/^404: unknown tenant: nobody/);
    expect(await total('imp_bad')).toBe('3');
  });

  it('imports gzipped CSV with meta columns and quoted fields', async () => {
    const csv = [
      'tenantId,metric,customerRef,quantity,ts,idempotencyKey,meta.region,meta.note',
      `demo,imp_csv,cus_a,1.25,${recent(5000)},csv-1,eu,plain`,
      `demo,imp_csv,"cus ""b""",2,${recent(4000)},csv-2,,"two, lines`,
      `here"`,
      `demo,imp_csv,cus_c,3,${recent(3000)},,us,`,
    ].join('\r\n');
    const input = file('events.csv.gz', gzipSync(Buffer.from(`\uFEFF${csv}\r\n`)));
    const r = await importCli([input]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/3 lines .*: 3 accepted/);
    const stored = (await svc.request('GET', '/v1/events?tenantId=demo&metric=imp_csv')).body.events as Array<Record<string, any>>;
    const byCustomer = Object.fromEntries(stored.map((e) => [e.customerRef, e]));
    expect(byCustomer.cus_a).toMatchObject({ idempotencyKey: 'csv-1', quantity: '1.25', meta: { region: 'eu', note: 'plain' } });
    expect(byCustomer['cus "b"']).toMatchObject({ idempotencyKey: 'csv-2', meta: { note: 'two, lines\nhere' } });
    expect(byCustomer.cus_c.idempotencyKey).toMatch(/^auto_/);
    expect(byCustomer.cus_c.meta).toEqual({ region: 'us' });
    expect((await importCli([input])).out).toMatch(/0 accepted, 3 duplicate/);
  });

  it('refuses a CSV header naming no event field (exit 2), before sending anything', async () => {
    const r = await importCli([file('odd.csv', 'tenantId,metric,customer,quantity,ts\ndemo,m,c,1,2026-01-01T00:00:00Z\n')]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('unknown column "customer"');
    expect(r.requests).toBe(0);
  });

  it('imports CloudEvents lines from standard input', async () => {
    const ce = (id: string, quantity: number) => ({
      specversion: '1.0',
      id,
      source: 'import-test',
      type: 'imp_ce',
      subject: 'cus_ce',
      time: recent(2000),
      data: { tenantId: 'demo', quantity, plan: 'pro' },
    });
    const r = await importCli(['-', '--format', 'cloudevents'], { stdin: Buffer.from(ndjson([ce('ce-1', 4), ce('ce-2', 5), { ...ce('ce-3', 1), specversion: '0.3' }])) });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/3 lines .*: 2 accepted, 0 duplicate, 1 rejected/);
    expect(r.out).toContain('rejected: invalid_event 1; pass --errors FILE');
    expect(await total('imp_ce')).toBe('9');
  });

  it('retries 429 and network errors with the same keys', async () => {
    let calls = 0;
    const flaky = (async (...args: Parameters<typeof fetch>) => {
      calls++;
      if (calls === 1) return new Response(JSON.stringify({ error: { code: 'ingest_overloaded', message: 'busy' } }), { status: 429, headers: { 'retry-after': '0' } });
      // The second attempt reaches the service but its answer is lost: the third must find duplicates only.
      if (calls === 2) {
        await globalThis.fetch(...args);
        throw new TypeError('fetch failed');
      }
      return globalThis.fetch(...args);
    }) as typeof fetch;
    const input = file('retry.ndjson', ndjson([event({ metric: 'imp_retry', quantity: 2 }), event({ metric: 'imp_retry', quantity: 3, customerRef: 'cus_2' })]));
    const r = await importCli([input], { fetch: flaky });
    expect(r.code).toBe(0);
    expect(calls).toBe(3);
    expect(r.out).toMatch(/0 accepted, 2 duplicate, 0 rejected/);
    expect(await total('imp_retry')).toBe('5');
  });

  it('stops with exit 1 on a bad key, without printing it', async () => {
    const input = file('key.ndjson', ndjson([event({ metric: 'imp_key' })]));
    const r = await importCli([input], { env: { STRIPEMETER_KEY: 'sm_not_a_real_key' } });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/stopped: 401 .*check STRIPEMETER_KEY/);
    expect(r.out + r.err).not.toContain('sm_not_a_real_key');
    expect((await importCli([])).code).toBe(2);
    expect((await importCli([input, '--format', 'xml'])).code).toBe(2);
    expect((await importCli([path.join(dir, 'missing.ndjson')])).err).toContain('cannot read');
  });

  it('says how many events landed beyond the lateness window and prints the replay that counts them', async () => {
    // The counter's watermark is now; an event 60 hours older is beyond the 48 h window.
    await svc.request('POST', '/v1/events/ingest', { body: { events: [event({ metric: 'imp_late', idempotencyKey: 'now' })] } });
    const old = Date.now() - 60 * 3600_000;
    const input = file('late.ndjson', ndjson([event({ metric: 'imp_late', idempotencyKey: 'old-1', quantity: 4, ts: new Date(old).toISOString() })]));
    // The old event's period (the tenant's zone is UTC), which may be last month.
    const period = new Date(old).toISOString().slice(0, 7);
    const before = Number(await total('imp_late', period));
    const r = await importCli([input]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('1 events are older than the lateness window');
    expect(Number(await total('imp_late', period))).toBe(before);
    const body = /-d '(.*)'/.exec(r.out)![1]!;
    expect(r.out).toContain('"$STRIPEMETER_URL/v1/replay"');
    const replay = await svc.request('POST', '/v1/replay', { body });
    expect(replay.status, JSON.stringify(replay.body)).toBe(200);
    expect(Number(await total('imp_late', period))).toBe(before + 4);
  });

  // `npm test` builds first; a plain `vitest run` may find no build or one older than the sources.
  const built = path.join(packageRoot, 'dist', 'src', 'cli.js');
  const fresh = (src: string, out: string) => existsSync(out) && statSync(out).mtimeMs >= statSync(path.join(packageRoot, src)).mtimeMs;
  const builtFresh = fresh('src/import/cli.ts', path.join(packageRoot, 'dist', 'src', 'import', 'cli.js')) && fresh('src/cli.ts', built);
  it.skipIf(!builtFresh)('runs as `stripemeter import -` (dist/src/cli.js) and exits when done', async () => {
    const child = spawn(process.execPath, [built, 'import', '-'], {
      env: { PATH: process.env.PATH, STRIPEMETER_URL: svc.url, STRIPEMETER_KEY: svc.adminKey },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stdin.end(ndjson([event({ metric: 'imp_bin', idempotencyKey: 'bin-1', quantity: 7 })]));
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    expect(out).toMatch(/1 lines .*: 1 accepted/);
    expect(await total('imp_bin')).toBe('7');
  });
});
