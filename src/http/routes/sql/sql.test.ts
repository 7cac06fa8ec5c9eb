import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { event, startTestService, type TestService } from '../../../../test/support/service.js';

// Small limits, so the tests reach them quickly.
const limits = {
  SQL_MAX_EXECUTION_TIME: 'PT2S',
  SQL_MAX_RESULT_ROWS: '1000',
  SQL_MAX_RESULT_BYTES: String(1024 * 1024),
  SQL_MAX_MEMORY_USAGE: String(256 * 1024 * 1024),
};

let svc: TestService;
let analystKey: string;

beforeAll(async () => {
  svc = await startTestService(limits);
  const r = await svc.request('POST', '/v1/admin/api-keys', { body: { scopes: ['sql'], name: 'analyst' } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  analystKey = r.body.key;
  const ingested = await svc.request('POST', '/v1/events/ingest', {
    body: { events: [1, 2, 3].map((i) => event({ metric: 'm_sql', customerRef: `cus_${i}`, quantity: `${i}.5`, idempotencyKey: `sql-${i}` })) },
  });
  expect(ingested.body.accepted).toBe(3);
});
afterAll(async () => {
  await svc?.destroy();
});

type SqlOptions = { format?: string; params?: Record<string, unknown>; key?: string | null };
const sql = (query: string, o: SqlOptions = {}) =>
  svc.request('POST', '/v1/sql', {
    key: o.key === undefined ? analystKey : o.key,
    body: { query, ...(o.format ? { format: o.format } : {}), ...(o.params ? { params: o.params } : {}) },
  });

async function rows(query: string, o: SqlOptions = {}): Promise<unknown[][]> {
  const r = await sql(query, o);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.rows;
}

/** Reads through a writable connection of the service, not the analyst one. */
async function internal<T>(query: string): Promise<T[]> {
  const rs = await svc.deps.storage.jobs.query({ query, format: 'JSONEachRow' });
  return rs.json<T>();
}

async function snapshot() {
  return {
    tables: await internal<{ name: string; engine: string }>(
      'SELECT name, engine FROM system.tables WHERE database = currentDatabase() ORDER BY name',
    ),
    events: await internal<{ n: string }>('SELECT count() AS n FROM events'),
    counters: await internal<{ n: string; q: string }>('SELECT count() AS n, toString(sum(quantity)) AS q FROM usage_period_counters'),
    keys: await internal<{ n: string }>('SELECT count() AS n FROM api_keys'),
  };
}

describe('who may run analyst SQL', () => {
  it('answers an analyst key (scope sql, no tenant) and the service admin key', async () => {
    expect(await rows('SELECT 1 AS one')).toEqual([[1]]);
    expect(await rows('SELECT 1 AS one', { key: svc.adminKey })).toEqual([[1]]);
  });

  it('refuses tenant-bound keys with 403, even with the admin scope, and anonymous callers with 401', async () => {
    for (const scopes of [['read'], ['ingest'], ['admin'], ['read', 'ingest', 'admin']]) {
      const k = await svc.request('POST', '/v1/admin/api-keys', { body: { tenantId: 'demo', scopes } });
      expect(k.status).toBe(201);
      const r = await sql('SELECT 1', { key: k.body.key });
      expect(r.status, scopes.join()).toBe(403);
      expect(r.body.error.code).toBe('forbidden');
      expect(r.body.error.message).toMatch(/'sql' scope/);
    }
    const anonymous = await sql('SELECT 1', { key: null });
    expect(anonymous.status).toBe(401);
  });

  it('gives an analyst key nothing but SQL', async () => {
    expect((await svc.request('GET', '/v1/usage?tenantId=demo&metric=m_sql', { key: analystKey })).status).toBe(403);
    expect((await svc.request('POST', '/v1/events/ingest', { key: analystKey, body: { events: [event()] } })).status).toBe(403);
  });
});

describe('read-only', () => {
  const outfile = () => path.join(svc.dataDir, 'analyst-outfile.csv');
  const refusals: Array<[string, RegExp]> = [
    ["INSERT INTO events (tenant_id, idempotency_key, metric, customer_ref, quantity, ts, period, payload_hash) VALUES ('demo', 'x', 'm', 'c', 1, now64(3), '2026-01', 'aaaaaaaaaaaaaaaa')", /read-only: INSERT statements are refused/],
    ['INSERT INTO usage_period_counters SELECT * FROM usage_period_counters', /read-only: INSERT/],
    ['ALTER TABLE events DELETE WHERE 1', /read-only: ALTER/],
    ['ALTER TABLE events ADD COLUMN hacked UInt8', /read-only: ALTER/],
    ['ALTER TABLE usage_period_counters UPDATE quantity = 0 WHERE 1', /read-only: ALTER/],
    ['DELETE FROM events WHERE 1', /read-only: DELETE/],
    ['DROP TABLE events', /read-only: DROP/],
    ['DROP VIEW usage_hourly', /read-only: DROP/],
    ['TRUNCATE TABLE api_keys', /read-only: TRUNCATE/],
    ['CREATE TABLE stolen ENGINE = MergeTree ORDER BY tuple() AS SELECT * FROM api_keys', /read-only: CREATE/],
    ['CREATE VIEW mine AS SELECT 1', /read-only: CREATE/],
    ['RENAME TABLE events TO events_gone', /read-only: RENAME/],
    ['OPTIMIZE TABLE events FINAL', /read-only: OPTIMIZE/],
    ['SYSTEM FLUSH LOGS', /read-only: SYSTEM/],
    ['SYSTEM STOP MERGES', /read-only: SYSTEM/],
    ['SYSTEM DROP MARK CACHE', /read-only: SYSTEM/],
    ['KILL QUERY WHERE 1', /read-only: KILL/],
    ['USE system', /read-only: USE/],
    ['SET readonly = 0', /cannot change settings: SET is refused/],
    ['SET max_result_rows = 0', /cannot change settings/],
    ['SELECT count() FROM numbers(1e12) SETTINGS max_execution_time = 1000', /cannot change settings.*max_execution_time/],
    ['SELECT number FROM numbers(5000) SETTINGS max_result_rows = 0', /cannot change settings.*max_result_rows/],
    ['SELECT 1 SETTINGS readonly = 0', /cannot change settings.*readonly/],
    ['SELECT 1; DROP TABLE events', /one statement per request/],
    ['SELECT 1; SELECT 2', /one statement per request/],
    ["SELECT * FROM file('/etc/hostname', 'LineAsString')", /does not allow the table function file\(\)/],
    ["SELECT file('/etc/hostname') AS host", /does not allow the function file\(\)/],
    ['SELECT `file`(\'/proc/self/environ\')', /does not allow the function file\(\)/],
    ["SELECT arrayMap(p -> file(p), ['/etc/hostname'])", /does not allow the function file\(\)/],
    ["SELECT * FROM url('http://127.0.0.1:9/x', 'LineAsString')", /does not allow the table function url\(\)/],
    ["SELECT * FROM s3('http://127.0.0.1:9/bucket/x.csv')", /does not allow the table function s3\(\)/],
    ["SELECT * FROM remote('127.0.0.1', system.one)", /does not allow the table function remote\(\)/],
    ["SELECT * FROM executable('cat /etc/hostname', 'TSV', 'a String')", /does not allow the table function executable\(\)/],
    ["SELECT * FROM mysql('127.0.0.1:9', 'db', 't', 'u', 'p')", /does not allow the table function mysql\(\)/],
    ['SELECT key_hash FROM api_keys', /does not read api_keys: analysts read the views usage_hourly/],
    ['SELECT * FROM system.disks', /does not read system.disks/],
    ['SHOW TABLES', /read-only: SHOW statements are refused/],
    ['SELECT 1 FORMAT CSV', /remove the FORMAT or INTO OUTFILE clause/],
  ];

  it('refuses writes, DDL, SYSTEM, KILL, SET, SETTINGS clauses, several statements and host access with a clear 400; nothing changes', async () => {
    const before = await snapshot();
    for (const [query, message] of refusals) {
      const r = await sql(query);
      expect(r.status, query).toBe(400);
      expect(r.body.error.code, query).toBe('sql_refused');
      expect(r.body.error.message, query).toMatch(message);
      expect(r.body.error.message, query).not.toMatch(/Stack trace|DB::Exception|version \d/);
      expect(r.body.requestId).toBeTruthy();
    }
    expect(await snapshot()).toEqual(before);
    expect(before.tables.map((t) => t.name)).toEqual(expect.arrayContaining(['events', 'usage_hourly', 'api_keys']));
  });

  it('writes no file with INTO OUTFILE', async () => {
    const r = await sql(`SELECT * FROM events INTO OUTFILE '${outfile()}'`);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'sql_refused', message: expect.stringMatching(/remove the FORMAT or INTO OUTFILE clause/) });
    const csv = await sql(`SELECT 1 INTO OUTFILE '${outfile()}' FORMAT CSV`);
    expect(csv.body.error.code).toBe('sql_refused');
    expect(existsSync(outfile())).toBe(false);
  });

  it('leaves the service writable: the other connections are not read-only and have no analyst limits', async () => {
    const settings = "SELECT getSetting('readonly') AS readonly, getSetting('max_result_rows') AS max_rows, getSetting('max_execution_time') AS max_time";
    const storage = svc.deps.storage;
    for (const role of ['ingest', 'lookup', 'api', 'jobs'] as const) {
      const [s] = await (await storage[role].query({ query: settings, format: 'JSONEachRow' })).json<Record<string, number | string>>();
      expect({ role, readonly: Number(s!.readonly), max_rows: Number(s!.max_rows), max_time: Number(s!.max_time) }).toEqual({ role, readonly: 0, max_rows: 0, max_time: 0 });
    }
    const [analyst] = await (await storage.analyst.query({ query: settings, format: 'JSONEachRow' })).json<Record<string, number | string>>();
    expect({ readonly: Number(analyst!.readonly), max_rows: Number(analyst!.max_rows), max_time: Number(analyst!.max_time) }).toEqual({ readonly: 1, max_rows: 1000, max_time: 2 });
    const r = await svc.request('POST', '/v1/events/ingest', { body: { events: [event({ metric: 'm_after', idempotencyKey: 'after-refusals' })] } });
    expect(r.body.accepted).toBe(1);
    expect(await rows("SELECT count() FROM events WHERE idempotency_key = 'after-refusals'")).toEqual([['1']]);
  });
});

describe('limits', () => {
  it('stops a runaway query at the time limit while ingest and usage reads keep working', async () => {
    const started = Date.now();
    const slow = sql('SELECT count() FROM numbers(1e12)');
    await new Promise((r) => setTimeout(r, 300));
    const ingestTimes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = Date.now();
      const r = await svc.request('POST', '/v1/events/ingest', {
        body: { events: Array.from({ length: 100 }, (_, j) => event({ metric: 'm_during', idempotencyKey: `during-${i}-${j}` })) },
      });
      ingestTimes.push(Date.now() - t0);
      expect(r.body.accepted).toBe(100);
    }
    const t0 = Date.now();
    const usage = await svc.request('GET', '/v1/usage?tenantId=demo&metric=m_during');
    const usageMs = Date.now() - t0;
    expect(usage.body.total).toBe('300');
    const r = await slow;
    const elapsed = Date.now() - started;
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('sql_limit');
    expect(r.body.error.message).toMatch(/hit a limit for analyst SQL: Timeout exceeded: elapsed .* maximum: 2000 ms/);
    expect(elapsed).toBeGreaterThanOrEqual(1900);
    expect(elapsed).toBeLessThan(6000);
    // Ingest did not wait for the analyst query (it would have taken ~2 s on a shared connection).
    expect(Math.max(...ingestTimes), ingestTimes.join()).toBeLessThan(1000);
    expect(usageMs).toBeLessThan(1000);
  });

  it('refuses results over the row limit, also when rows stream', async () => {
    expect((await sql('SELECT number FROM numbers(1000)')).body.rowCount).toBe(1000);
    for (const query of ['SELECT number FROM numbers(5000)', 'SELECT number FROM system.numbers', 'SELECT * FROM numbers(1001)']) {
      const r = await sql(query);
      expect(r.status, query).toBe(400);
      expect(r.body.error).toMatchObject({ code: 'sql_limit', message: expect.stringMatching(/Limit for result exceeded, max rows: 1\.00 thousand/) });
    }
  });

  it('refuses results over the byte limit and queries over the memory limit', async () => {
    const bytes = await sql('SELECT repeat(toString(number), 2000) AS s FROM numbers(900)');
    expect(bytes.status).toBe(400);
    expect(bytes.body.error).toMatchObject({ code: 'sql_limit', message: expect.stringMatching(/max bytes: 1\.00 MiB/) });
    const memory = await sql('SELECT groupArray(number) FROM numbers(100000000)');
    expect(memory.status).toBe(400);
    expect(memory.body.error).toMatchObject({ code: 'sql_limit', message: expect.stringMatching(/memory limit exceeded/i) });
  });

  it('answers the next query correctly after one failed midway (nothing of the failed output leaks into it)', async () => {
    for (const format of ['JSON', 'CSV', 'TSV']) {
      const failed = await sql('SELECT number, toString(number) AS s FROM system.numbers', { format });
      expect(failed.body.error.code).toBe('sql_limit');
      const next = await sql("SELECT 'after' AS x", { format });
      expect(next.status).toBe(200);
      expect(next.body).toEqual(format === 'JSON' ? expect.objectContaining({ rows: [['after']], rowCount: 1 }) : format === 'CSV' ? '"x"\n"after"\n' : 'x\nafter\n');
    }
    const timeout = await sql('SELECT count() FROM numbers(1e12)', { format: 'CSV' });
    expect(timeout.body.error.code).toBe('sql_limit');
    expect((await sql('SELECT 2 AS two', { format: 'CSV' })).body).toBe('"two"\n2\n');
  });

  it('refuses a query text over 100 KB and an empty one', async () => {
    const long = `SELECT 1 -- ${'x'.repeat(100 * 1024)}`;
    const r = await sql(long);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_request');
    expect(r.body.error.issues).toEqual([{ path: 'query', message: 'must be at most 102400 bytes' }]);
    expect((await sql('   ')).body.error.issues[0].path).toBe('query');
    const comment = await sql('-- nothing but a comment');
    expect(comment.body.error).toEqual({ code: 'sql_error', message: 'the query is empty' });
  });
});

describe('output', () => {
  it('JSON: columns with ClickHouse types, rows as arrays, exact decimals and 64-bit integers as strings', async () => {
    const r = await sql(
      "SELECT toUInt64(18446744073709551615) AS big, toDecimal128('12345678901234567890.123456', 6) AS exact, 'x' AS s, NULL AS nothing, [1, 2] AS arr, toDateTime('2026-03-01 10:00:00', 'UTC') AS at, 1.5 AS f",
    );
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    expect(r.body).toMatchObject({
      columns: [
        { name: 'big', type: 'UInt64' },
        { name: 'exact', type: 'Decimal(38, 6)' },
        { name: 's', type: 'String' },
        { name: 'nothing', type: 'Nullable(Nothing)' },
        { name: 'arr', type: 'Array(UInt8)' },
        { name: 'at', type: "DateTime('UTC')" },
        { name: 'f', type: 'Float64' },
      ],
      rows: [['18446744073709551615', '12345678901234567890.123456', 'x', null, [1, 2], '2026-03-01 10:00:00', 1.5]],
      rowCount: 1,
    });
    expect(typeof r.body.elapsedMs).toBe('number');
    expect(Object.keys(r.body).sort()).toEqual(['columns', 'elapsedMs', 'rowCount', 'rows']);
  });

  it('CSV and TSV with a header row, chosen in any case', async () => {
    const q = "SELECT number AS n, concat(toString(number), ',\"x\"') AS s FROM numbers(2)";
    const csv = await sql(q, { format: 'CSV' });
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(csv.body).toBe('"n","s"\n0,"0,""x"""\n1,"1,""x"""\n');
    const tsv = await sql(q, { format: 'tsv' });
    expect(tsv.headers.get('content-type')).toBe('text/tab-separated-values; charset=utf-8');
    expect(tsv.body).toBe('n\ts\n0\t0,"x"\n1\t1,"x"\n');
    expect((await sql(q, { format: 'csv' })).body).toBe(csv.body);
    const bad = await sql(q, { format: 'XML' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues[0].path).toBe('format');
  });

  it('passes params as ClickHouse query parameters, never as SQL', async () => {
    const hostile = "x'; DROP TABLE events; --";
    const r = await rows('SELECT {n:UInt32} + 1 AS n, {s:String} AS s, {list:Array(String)} AS list, {flag:Bool} AS flag', {
      params: { n: 41, s: hostile, list: ['a', "b'c"], flag: true },
    });
    // UInt32 + 1 is a UInt64: 64-bit integers leave JSON as strings.
    expect(r).toEqual([['42', hostile, ['a', "b'c"], true]]);
    expect(await rows('SELECT customer_ref FROM usage_by_period WHERE tenant_id = {t:String} AND metric = {m:String} AND customer_ref IN {c:Array(String)} ORDER BY 1', {
      params: { t: 'demo', m: 'm_sql', c: ['cus_1', 'cus_3'] },
    })).toEqual([['cus_1'], ['cus_3']]);
    const missing = await sql('SELECT {n:UInt32} AS n');
    expect(missing.status).toBe(400);
    expect(missing.body.error.code).toBe('sql_error');
    expect(missing.body.error.message).toMatch(/`n` is not set/);
    const badName = await sql('SELECT 1', { params: { 'not a name': 1 } });
    expect(badName.status).toBe(400);
    expect(badName.body.error.code).toBe('invalid_request');
    expect(Number((await internal<{ n: string }>("SELECT count() AS n FROM system.tables WHERE database = currentDatabase() AND name = 'events'"))[0]!.n)).toBe(1);
  });

  it('reports ClickHouse errors as sql_error with its message', async () => {
    const cases: Array<[string, RegExp]> = [
      ['SELEC 1', /^Syntax error: failed at position 7 \(1\)/],
      ['SELECT * FROM no_such_table', /Unknown table expression identifier 'no_such_table'/],
      ['SELECT no_such_column FROM events', /Unknown expression identifier `no_such_column`/],
      ["SELECT toUInt8('abc')", /Cannot parse string 'abc' as UInt8/],
    ];
    for (const [query, message] of cases) {
      const r = await sql(query);
      expect(r.status, query).toBe(400);
      expect(r.body.error.code, query).toBe('sql_error');
      expect(r.body.error.message, query).toMatch(message);
      expect(r.body.error.message, query).not.toMatch(/formatQuerySingleLine|Stack trace/);
    }
  });

  it('takes comments, a trailing semicolon and DESCRIBE, EXPLAIN, WITH, UNION', async () => {
    expect(await rows('-- the answer\nSELECT 42 AS x; -- done')).toEqual([[42]]);
    expect(await rows('/* a */ SELECT /* b */ 1 AS x;')).toEqual([[1]]);
    expect((await rows('DESCRIBE TABLE usage_by_period')).map((r) => r.slice(0, 2))).toEqual([
      ['tenant_id', 'LowCardinality(String)'],
      ['metric', 'LowCardinality(String)'],
      ['customer_ref', 'String'],
      ['period', 'LowCardinality(String)'],
      ['quantity', 'Decimal(38, 6)'],
      ['events', 'Int64'],
    ]);
    expect((await rows('EXPLAIN SELECT * FROM usage_hourly')).length).toBeGreaterThan(0);
    expect(await rows('WITH 2 AS two SELECT two * 21 AS x')).toEqual([[42]]);
    expect((await rows('(SELECT 1 AS x) UNION ALL (SELECT 2)')).sort()).toEqual([[1], [2]]);
  });
});
