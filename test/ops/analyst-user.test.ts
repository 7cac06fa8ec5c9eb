import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analystTableFunctions, analystTables, analystViews } from '../../src/analyst/policy.js';
import { openTestStorage, type TestStorage } from '../support/storage.js';

/**
 * ops/clickhouse/analyst-user.sh, run for real with a stand-in `clickhouse` on PATH that keeps the SQL it is given;
 * the engine's own parser then reads every statement (the embedded engine parses access statements it cannot run).
 */
const run = promisify(execFile);
const script = path.resolve('ops/clickhouse/analyst-user.sh');
let bin: string;
let storage: TestStorage;

beforeAll(async () => {
  bin = mkdtempSync(path.join(os.tmpdir(), 'fake-clickhouse-'));
  writeFileSync(path.join(bin, 'clickhouse'), `#!/bin/sh\nprintf '%s\\n' "$@" > "${bin}/args"\ncat > "${bin}/sql"\n`);
  chmodSync(path.join(bin, 'clickhouse'), 0o755);
  storage = await openTestStorage('analyst-user');
});
afterAll(async () => {
  rmSync(bin, { recursive: true, force: true });
  await storage?.destroy();
});

const runScript = (env: Record<string, string>) =>
  run('bash', [script], { env: { PATH: `${bin}:${process.env.PATH}`, ...env } });

describe('ops/clickhouse/analyst-user.sh', () => {
  it('grants SELECT on exactly the analyst views and tables, after revoking everything, with the password only as a hash', async () => {
    const { stdout } = await runScript({ CLICKHOUSE_DB: 'stripemeter', CLICKHOUSE_ANALYST_PASSWORD: 'pw with spaces and \'quotes\'', CLICKHOUSE_USER: 'admin', CLICKHOUSE_PASSWORD: 'adminpw' });
    expect(stdout).toMatch(/analyst reads 23 views and tables of stripemeter/);
    const sql = readFileSync(path.join(bin, 'sql'), 'utf8');
    expect(sql).not.toContain('pw with spaces');
    const statements = sql.split(';').map((s) => s.trim()).filter(Boolean);
    const grants = statements.filter((s) => s.startsWith('GRANT')).map((s) => /^GRANT SELECT ON stripemeter\.(\w+) TO analyst$/.exec(s)?.[1]);
    expect(grants.sort()).toEqual([...analystViews, ...analystTables, 'replay_window_cells'].sort());
    expect(analystTableFunctions).toContain('replay_window_cells');
    expect(statements.findIndex((s) => s.startsWith('REVOKE ALL ON *.* FROM analyst'))).toBeLessThan(statements.findIndex((s) => s.startsWith('GRANT')));
    expect(statements.filter((s) => /^GRANT/.test(s) && !/^GRANT SELECT ON stripemeter\.\w+ TO analyst$/.test(s))).toEqual([]);
    for (const statement of statements) {
      const rs = await storage.api.query({ query: 'SELECT formatQuerySingleLine({q:String}) AS q', query_params: { q: statement }, format: 'JSONEachRow' });
      expect((await rs.json<{ q: string }>())[0]!.q, statement).toBeTruthy();
    }
    expect(readFileSync(path.join(bin, 'args'), 'utf8').split('\n')).toEqual(['client', '--user', 'admin', '--password', 'adminpw', '--multiquery', '']);
  });

  it('refuses a missing password and names that are not plain identifiers', async () => {
    await expect(runScript({})).rejects.toMatchObject({ stderr: expect.stringMatching(/CLICKHOUSE_ANALYST_PASSWORD/) });
    await expect(runScript({ CLICKHOUSE_ANALYST_PASSWORD: 'x', CLICKHOUSE_ANALYST_USER: 'a; DROP' })).rejects.toMatchObject({ code: 2 });
    await expect(runScript({ CLICKHOUSE_ANALYST_PASSWORD: 'x', CLICKHOUSE_DB: 'db`' })).rejects.toMatchObject({ code: 2 });
  });
});
