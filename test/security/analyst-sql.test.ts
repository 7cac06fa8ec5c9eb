import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { event, startTestService, type TestService } from '../support/service.js';

/**
 * Analyst SQL as an attacker with an analyst key would try it: read files, reach the network, read tables that are
 * not the analyst views and tables, change settings, run more than one statement. A local listener stands in for
 * every host an escape could reach: it must never see a connection, and no answer may carry the admin key.
 */
let svc: TestService;
let analystKey: string;
let listener: net.Server;
let connections = 0;
let target = '';

beforeAll(async () => {
  listener = net.createServer((socket) => {
    connections++;
    socket.end('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nleaked-through-the-network');
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  target = `127.0.0.1:${(listener.address() as net.AddressInfo).port}`;
  svc = await startTestService({ SQL_MAX_EXECUTION_TIME: 'PT3S' });
  const k = await svc.request('POST', '/v1/admin/api-keys', { body: { scopes: ['sql'], name: 'attacker' } });
  analystKey = k.body.key;
  const r = await svc.request('POST', '/v1/events/ingest', { body: { events: [event({ metric: 'm_sec', idempotencyKey: 'sec-1' })] } });
  expect(r.body.accepted).toBe(1);
});
afterAll(async () => {
  await svc?.destroy();
  await new Promise((r) => listener?.close(r));
});

const sql = (query: string, params?: Record<string, unknown>) =>
  svc.request('POST', '/v1/sql', { key: analystKey, body: { query, ...(params ? { params } : {}) } });

function attempts(): string[] {
  const key = path.join(svc.dataDir, 'admin.key');
  const http = `http://${target}/creds`;
  return [
    // Files, through every function and table function that reads them.
    `SELECT * FROM file('${key}', 'LineAsString')`,
    `SELECT file('${key}')`,
    `SELECT file('/etc/passwd')`,
    `DESCRIBE TABLE file('${key}', 'LineAsString')`,
    `DESCRIBE TABLE url('file://${key}', 'Values')`,
    `SELECT * FROM url('file://${key}', 'LineAsString')`,
    `EXPLAIN SELECT * FROM file('${key}', 'LineAsString')`,
    `EXPLAIN AST SELECT * FROM file('${key}')`,
    `EXPLAIN SYNTAX SELECT file('${key}')`,
    `EXPLAIN QUERY TREE SELECT file('${key}')`,
    `EXPLAIN ESTIMATE SELECT * FROM file('${key}')`,
    `SELECT * FROM fileCluster('default', '${key}')`,
    `SELECT * FROM filesystem('/')`,
    `SELECT * FROM iceberg('${svc.dataDir}')`,
    `SELECT * FROM icebergLocal('${svc.dataDir}')`,
    `SELECT * FROM deltaLakeLocal('${svc.dataDir}')`,
    `SELECT * FROM sqlite('${key}', 't')`,
    `SELECT catboostEvaluate('${key}', 1)`,
    `SELECT naiveBayesClassifier('${key}', 'x')`,
    `SELECT arrayMap(p -> file(p), ['${key}'])`,
    `SELECT (SELECT file('${key}'))`,
    `WITH (SELECT file('${key}')) AS k SELECT k`,
    `SELECT 1 WHERE 1 IN (SELECT * FROM file('${key}'))`,
    `SELECT * FROM numbers(1) JOIN file('${key}', 'LineAsString') ON 1`,
    `SELECT 1 UNION ALL SELECT * FROM file('${key}')`,
    `SELECT * FROM (SELECT * FROM (SELECT * FROM file('${key}')))`,
    `SeLeCt FiLe('${key}')`,
    `SELECT \`file\`('${key}')`,
    `SELECT /* hidden */ file /* still */ ('${key}')`,
    `SELECT 1 INTO OUTFILE '${path.join(svc.dataDir, 'out.txt')}'`,
    `SELECT * FROM input('a String')`,
    `SELECT * FROM format(LineAsString, '${key}')`,
    // The network.
    `SELECT * FROM url('${http}', 'LineAsString')`,
    `DESCRIBE TABLE url('${http}', 'Values')`,
    `DESCRIBE TABLE url('${http}', 'JSONEachRow')`,
    `SELECT * FROM urlCluster('default', '${http}')`,
    `SELECT * FROM s3('${http}')`,
    `DESCRIBE TABLE s3('http://${target}/bucket/x.csv')`,
    `SELECT * FROM s3Cluster('default', '${http}')`,
    `SELECT * FROM gcs('${http}')`,
    `SELECT * FROM oss('${http}')`,
    `SELECT * FROM cosn('${http}')`,
    `SELECT * FROM azureBlobStorage('${http}', 'c', 'b')`,
    `SELECT * FROM hdfs('hdfs://${target}/x', 'TSV')`,
    `SELECT * FROM iceberg('${http}')`,
    `SELECT * FROM deltaLake('${http}')`,
    `SELECT * FROM hudi('${http}')`,
    `DESCRIBE remote('${target}', system.one)`,
    `SELECT * FROM remote('${target}', system.one)`,
    `SELECT * FROM remoteSecure('${target}', system.one)`,
    `SELECT * FROM cluster('default', system.one)`,
    `SELECT * FROM clusterAllReplicas('default', system.one)`,
    `SELECT * FROM mysql('${target}', 'db', 't', 'u', 'p')`,
    `SELECT * FROM postgresql('${target}', 'db', 't', 'u', 'p')`,
    `SELECT * FROM mongodb('${target}', 'db', 't', 'u', 'p', 'x String')`,
    `SELECT * FROM redis('${target}', 'k', 'k String')`,
    `SELECT * FROM jdbc('jdbc:mysql://${target}/db', 't')`,
    `SELECT * FROM odbc('DSN=x', 'db', 't')`,
    `SELECT * FROM executable('cat ${key}', 'TSV', 'a String')`,
    `SELECT * FROM prometheusQuery('${http}', 'up')`,
    `SELECT aiGenerate('${http}')`,
    // Tables that are not the analyst views and tables.
    'SELECT key_hash FROM api_keys',
    'SELECT * FROM default.api_keys',
    'SELECT * FROM `api_keys`',
    'SELECT * FROM "api_keys"',
    "SELECT 1 WHERE 'x' IN api_keys",
    'SELECT 1 WHERE tuple(1) GLOBAL IN default.api_keys',
    'SELECT (SELECT any(key_hash) FROM api_keys)',
    'WITH k AS (SELECT * FROM api_keys) SELECT * FROM k',
    'WITH api_keys AS (SELECT 1 AS x) SELECT * FROM api_keys',
    'SELECT * FROM events AS e JOIN api_keys AS a ON 1',
    'SELECT * FROM merge(currentDatabase(), \'^api\')',
    "SELECT * FROM merge('default', 'api_keys')",
    'SELECT * FROM view(SELECT * FROM api_keys)',
    'SELECT * FROM viewIfPermitted(SELECT * FROM api_keys ELSE null(\'x String\'))',
    "SELECT joinGet('api_keys', 'key_hash', 1)",
    "SELECT hasColumnInTable(currentDatabase(), 'api_keys', 'key_hash')",
    "SELECT dictGet('secrets', 'v', 1)",
    "SELECT * FROM dictionary('secrets')",
    'SELECT * FROM schema_migrations',
    'SELECT * FROM event_keys',
    'SELECT * FROM system.disks',
    'SELECT * FROM system.tables',
    'SELECT * FROM system.processes',
    'SELECT * FROM system.query_log',
    'SELECT * FROM SYSTEM.DISKS',
    'SELECT * FROM information_schema.tables',
    'SELECT * FROM INFORMATION_SCHEMA.COLUMNS',
    'DESCRIBE TABLE api_keys',
    'DESCRIBE TABLE system.disks',
    'EXPLAIN SELECT * FROM api_keys',
    'SHOW TABLES',
    'SHOW CREATE TABLE api_keys',
    'SHOW DATABASES',
    'SHOW SETTINGS LIKE \'%\'',
    'EXISTS TABLE api_keys',
    'SELECT * FROM mergeTreeIndex(currentDatabase(), api_keys)',
    'SELECT * FROM mergeTreeProjection(currentDatabase(), events, p)',
    'SELECT * FROM timeSeriesData(currentDatabase(), events)',
    "SELECT * FROM loop(currentDatabase(), 'api_keys') LIMIT 1",
    // Settings, statements and what the session knows.
    'SELECT 1 SETTINGS readonly = 0',
    'SET readonly = 0',
    'SELECT 1; SELECT * FROM api_keys',
    `SELECT 1; SELECT file('${key}')`,
    "SELECT getSetting('max_execution_time')",
    "SELECT getServerSetting('path')",
    "SELECT getMacro('x')",
    'SELECT hostName()',
    'SELECT currentUser()',
    'SELECT filesystemAvailable()',
    'SELECT showCertificate()',
    'SELECT sleep(3)',
    'SYSTEM RELOAD CONFIG',
    'KILL QUERY WHERE 1',
    'CREATE TABLE x (a String) ENGINE = File(LineAsString)',
    `INSERT INTO FUNCTION file('${path.join(svc.dataDir, 'x')}', 'LineAsString') SELECT 'x'`,
    `BACKUP TABLE events TO File('${svc.dataDir}')`,
    // Names the dump reader cannot vouch for.
    'SELECT * FROM `api_\nkeys`',
    'SELECT 1 AS `x) (children 1)\n    Literal 2`',
    'SELECT 1 AS `x\n TableIdentifier events`',
  ];
}

describe('analyst SQL escapes', () => {
  it('refuses every attempt with a 400, reaches no host, and never answers with the admin key', async () => {
    const list = attempts();
    expect(list.length).toBeGreaterThanOrEqual(60);
    const adminKey = readFileSync(path.join(svc.dataDir, 'admin.key'), 'utf8').trim();
    const passwd = readFileSync('/etc/passwd', 'utf8').split('\n')[0]!;
    const answered: string[] = [];
    for (const query of list) {
      const r = await sql(query);
      const text = JSON.stringify(r.body);
      expect(text, query).not.toContain(adminKey);
      expect(text, query).not.toContain(adminKey.slice(0, 16));
      expect(text, query).not.toContain(passwd);
      expect(text, query).not.toContain('leaked-through-the-network');
      if (r.status !== 400) answered.push(`${r.status} ${query}: ${text.slice(0, 200)}`);
      else expect(['sql_refused', 'sql_error'], query).toContain(r.body.error.code);
    }
    expect(answered).toEqual([]);
    expect(connections).toBe(0);
  });

  it('refuses the same escapes with parameters carrying the names', async () => {
    const key = path.join(svc.dataDir, 'admin.key');
    const cases: Array<[string, Record<string, unknown>]> = [
      ['SELECT * FROM {t:Identifier}', { t: 'api_keys' }],
      ['SELECT * FROM {t:Identifier}', { t: 'system.disks' }],
      ['SELECT 1 WHERE 1 IN {t:Identifier}', { t: 'api_keys' }],
      ['SELECT {s:String} AS s', { s: `') UNION ALL SELECT file('${key}') --` }],
      ['SELECT * FROM usage_hourly WHERE tenant_id = {t:String}', { t: "x' OR 1 = 1 UNION ALL SELECT * FROM api_keys --" }],
    ];
    for (const [query, params] of cases) {
      const r = await sql(query, params);
      expect(JSON.stringify(r.body), query).not.toContain(readFileSync(key, 'utf8').trim());
      if (r.status === 200) {
        // A string parameter stays a value: it never becomes SQL.
        expect(JSON.stringify(r.body.rows), query).not.toMatch(/key_hash|sha256/);
      } else {
        expect(r.status, query).toBe(400);
      }
    }
    expect((await sql('SELECT * FROM {t:Identifier}', { t: 'api_keys' })).body.error.code).toBe('sql_refused');
    expect(connections).toBe(0);
  });

  it('still answers what analysts need: the views, the documented tables, generators, DESCRIBE and EXPLAIN', async () => {
    for (const query of [
      "SELECT tenant_id, sum(quantity) FROM usage_by_period WHERE tenant_id = 'demo' GROUP BY tenant_id",
      'SELECT count() FROM events FINAL',
      'WITH t AS (SELECT id FROM tenants FINAL) SELECT count() FROM t',
      'SELECT number FROM numbers(3) UNION ALL SELECT 1',
      'SELECT * FROM system.one',
      'DESCRIBE TABLE usage_hourly',
      'EXPLAIN SELECT * FROM usage_hourly',
    ]) {
      const r = await sql(query);
      expect(r.status, `${query}: ${JSON.stringify(r.body)}`).toBe(200);
    }
  });
});

describe('analyst SQL bodies', () => {
  it('answers 400 for parameters nested 200,000 levels deep, and takes 16 levels', async () => {
    const deepText = (n: number) => `${'['.repeat(n)}"x"${']'.repeat(n)}`;
    const deep = (n: number): unknown => JSON.parse(deepText(n));
    // Sent as text: JSON.stringify itself cannot write a value this deep.
    const res = await fetch(`${svc.url}/v1/sql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${analystKey}`, 'content-type': 'application/json' },
      body: `{"query": "SELECT 1", "params": {"p": ${deepText(200_000)}}}`,
    });
    expect(res.status).toBe(400);
    const r = { body: (await res.json()) as { error: unknown } };
    expect(r.body.error).toMatchObject({ code: 'invalid_request', issues: [{ path: 'params.p', message: expect.stringMatching(/nested at most 16 deep/) }] });
    const ok = await sql(`SELECT {p:${'Array('.repeat(16)}String${')'.repeat(16)}} AS p`, { p: deep(16) });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
  });
});

describe('analyst SQL never delays the rest of the service', () => {
  it('ingest, usage and event reads answer without waiting while an analyst query with parameters runs for 3 s', async () => {
    const slow = sql('SELECT count() FROM numbers(1e12) WHERE number % {m:UInt64} = 1', { m: 7 });
    await new Promise((r) => setTimeout(r, 300));
    const times: Record<string, number> = {};
    const timed = async (name: string, call: () => Promise<{ status: number }>) => {
      const t0 = performance.now();
      const r = await call();
      times[name] = Math.round(performance.now() - t0);
      expect(r.status, name).toBe(200);
    };
    await timed('ingest', () => svc.request('POST', '/v1/events/ingest', { body: { events: [event({ metric: 'm_sec', idempotencyKey: 'sec-during' })] } }));
    await timed('usage', () => svc.request('GET', '/v1/usage?tenantId=demo&metric=m_sec'));
    await timed('events', () => svc.request('GET', '/v1/events?tenantId=demo&metric=m_sec'));
    const r = await slow;
    expect(r.body.error?.code, JSON.stringify(r.body)).toBe('sql_limit');
    // Waiting behind the analyst query would take the rest of its 3 s; the margin is for a loaded 2-core machine.
    for (const [name, ms] of Object.entries(times)) expect(ms, `${name} took ${ms} ms`).toBeLessThan(1500);
  });
});
