import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { event, startTestService, type TestService } from '../../test/support/service.js';
import { packageRoot } from '../storage/paths.js';
import { runSqlCli, type SqlCliIo } from './cli.js';
import { cellText, formatTable } from './table.js';

let svc: TestService;
let analystKey: string;

beforeAll(async () => {
  svc = await startTestService({ EVENT_RETENTION: 'P3650D', LATENESS_WINDOW: 'P3650D' });
  analystKey = (await svc.request('POST', '/v1/admin/api-keys', { body: { scopes: ['sql'], name: 'cli' } })).body.key;
  const r = await svc.request('POST', '/v1/events/ingest', {
    body: {
      events: [
        event({ metric: 'm_cli', customerRef: 'cus_1', quantity: '1.5', ts: '2026-03-05T10:00:00Z', idempotencyKey: 'c1' }),
        event({ metric: 'm_cli', customerRef: 'cus_1', quantity: 2, ts: '2026-03-05T11:00:00Z', idempotencyKey: 'c2' }),
        event({ metric: 'm_cli', customerRef: 'customer_with_long_name', quantity: 100, ts: '2026-03-06T10:00:00Z', idempotencyKey: 'c3' }),
      ],
    },
  });
  expect(r.body.accepted).toBe(3);
});
afterAll(async () => {
  await svc?.destroy();
});

async function cli(argv: string[], env: Record<string, string | undefined> = {}, stdin = '') {
  let out = '';
  let err = '';
  const io: SqlCliIo = {
    env: { STRIPEMETER_URL: svc.url, STRIPEMETER_KEY: analystKey, ...env },
    out: (t) => (out += t),
    err: (t) => (err += t),
    stdin: () => stdin,
    fetch: globalThis.fetch,
  };
  const code = await runSqlCli(argv, io);
  return { code, out, err };
}

const byPeriod = "SELECT customer_ref, period, quantity, events FROM usage_by_period WHERE tenant_id = 'demo' AND metric = 'm_cli' ORDER BY customer_ref";

describe('stripemeter sql', () => {
  it('prints an aligned table by default', async () => {
    const r = await cli([byPeriod]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      [
        ' customer_ref            | period  | quantity | events',
        '-------------------------+---------+----------+--------',
        ' cus_1                   | 2026-03 |      3.5 |      2',
        ' customer_with_long_name | 2026-03 |      100 |      1',
        '(2 rows)',
        '',
      ].join('\n'),
    );
  });

  it('prints CSV, TSV or the JSON response', async () => {
    expect((await cli([byPeriod, '--format', 'csv'])).out).toBe(
      '"customer_ref","period","quantity","events"\n"cus_1","2026-03",3.5,2\n"customer_with_long_name","2026-03",100,1\n',
    );
    expect((await cli(['-f', 'TSV', byPeriod])).out).toBe(
      'customer_ref\tperiod\tquantity\tevents\ncus_1\t2026-03\t3.5\t2\ncustomer_with_long_name\t2026-03\t100\t1\n',
    );
    const json = JSON.parse((await cli([byPeriod, '--format=json'])).out);
    expect(json).toMatchObject({ rowCount: 2, rows: [['cus_1', '2026-03', '3.5', '2'], ['customer_with_long_name', '2026-03', '100', '1']] });
  });

  it('takes parameters, a query on stdin, --url and --key', async () => {
    const r = await cli(
      ['-', '--param', 'm=m_cli', '-p', 'c=cus_1', '--url', `${svc.url}/`, '--key', analystKey],
      { STRIPEMETER_URL: 'http://127.0.0.1:1', STRIPEMETER_KEY: 'wrong' },
      "SELECT sum(quantity) AS q FROM usage_hourly WHERE tenant_id = 'demo' AND metric = {m:String} AND customer_ref = {c:String}",
    );
    expect(r.err).toBe('');
    expect(r.out).toBe(' q\n-----\n 3.5\n(1 row)\n');
  });

  it("exits 1 with the server's message when it refuses or fails the query", async () => {
    const refused = await cli(['DROP TABLE events']);
    expect(refused.code).toBe(1);
    expect(refused.out).toBe('');
    expect(refused.err).toMatch(/^stripemeter sql: 400 sql_refused: analyst SQL is read-only: DROP statements are refused/);
    const bad = await cli(['SELECT * FROM nowhere']);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^stripemeter sql: 400 sql_error: Unknown table expression identifier 'nowhere'/);
    const tenantKey = (await svc.request('POST', '/v1/admin/api-keys', { body: { tenantId: 'demo', scopes: ['admin'] } })).body.key;
    const forbidden = await cli(['SELECT 1'], { STRIPEMETER_KEY: tenantKey });
    expect(forbidden.code).toBe(1);
    expect(forbidden.err).toMatch(/^stripemeter sql: 403 forbidden: this API key lacks the 'sql' scope/);
    const unreachable = await cli(['SELECT 1'], { STRIPEMETER_URL: 'http://127.0.0.1:1' });
    expect(unreachable.code).toBe(1);
    expect(unreachable.err).toMatch(/^stripemeter sql: cannot reach http:\/\/127\.0\.0\.1:1: /);
  });

  it('exits 2 on usage errors', async () => {
    expect((await cli(['SELECT 1'], { STRIPEMETER_KEY: undefined })).err).toMatch(/no API key: set STRIPEMETER_KEY or pass --key/);
    expect((await cli([])).code).toBe(2);
    expect((await cli(['SELECT 1', '--format', 'xml'])).err).toMatch(/--format must be table, csv, tsv or json/);
    expect((await cli(['SELECT 1', '--param', 'novalue'])).code).toBe(2);
    expect((await cli(['SELECT 1', '--bogus'])).code).toBe(2);
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/^stripemeter sql "SELECT \.\.\." \[options\]/);
  });

  // `npm test` builds first; a plain `vitest run` may find no build or one older than the sources.
  const built = path.join(packageRoot, 'dist', 'src', 'cli.js');
  const fresh = (src: string, out: string) => existsSync(out) && statSync(out).mtimeMs >= statSync(path.join(packageRoot, src)).mtimeMs;
  const builtFresh = fresh('src/cli.ts', built) && fresh('src/analyst/cli.ts', path.join(packageRoot, 'dist', 'src', 'analyst', 'cli.js'));
  it.skipIf(!builtFresh)('runs as `stripemeter sql` (dist/src/cli.js; npm run build) and pipes long output whole', async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [built, 'sql', ...args], {
          env: { PATH: process.env.PATH, STRIPEMETER_URL: svc.url, STRIPEMETER_KEY: analystKey },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (err += d));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, out, err }));
      });
    const table = await run(['SELECT 1 AS one']);
    expect(table).toEqual({ code: 0, out: ' one\n-----\n   1\n(1 row)\n', err: '' });
    const long = await run(['SELECT number, repeat(toString(number), 10) AS s FROM numbers(50000)', '--format', 'csv']);
    expect(long.code).toBe(0);
    const lines = long.out.trimEnd().split('\n');
    expect(lines.length).toBe(50001);
    expect(lines.at(-1)).toBe(`49999,"${'49999'.repeat(10)}"`);
    const refused = await run(['INSERT INTO events SELECT * FROM events']);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/sql_refused: analyst SQL is read-only: INSERT statements are refused/);
  });
});

describe('formatTable', () => {
  it('aligns columns, right-aligns numbers, shows NULL and escapes control characters', () => {
    const t = formatTable(
      [
        { name: 'name', type: 'String' },
        { name: 'n', type: 'Nullable(Int64)' },
        { name: 'd', type: 'Decimal(38, 6)' },
        { name: 'tags', type: 'Array(String)' },
      ],
      [
        ['a\tb\nc', '12', '1.5', ['x', 'y']],
        ['longer name', null, '-100', []],
      ],
    );
    expect(t).toBe(
      [
        ' name        | n    | d    | tags',
        '-------------+------+------+-----------',
        ' a\\tb\\nc     |   12 |  1.5 | ["x","y"]',
        ' longer name | NULL | -100 | []',
        '(2 rows)',
        '',
      ].join('\n'),
    );
    expect(formatTable([{ name: 'x', type: 'UInt8' }], [])).toBe(' x\n---\n(0 rows)\n');
    expect(cellText(true)).toBe('true');
    expect(cellText({ a: 1 })).toBe('{"a":1}');
  });
});
