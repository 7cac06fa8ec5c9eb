import type { ClickHouseClient } from '@clickhouse/client';
import { describe, expect, it } from 'vitest';
import { AnalystSqlError } from './errors.js';
import { AnalystSql } from './runner.js';

/** A stand-in for the analyst client: formats a query to itself, answers after `delayMs`, fails on 'FAIL'. */
function fakeClient(delayMs = 0) {
  const calls: string[] = [];
  const client = {
    async query(p: { query: string; query_params?: Record<string, unknown>; format: string }) {
      if (p.query.startsWith('SELECT formatQuerySingleLine')) {
        calls.push(`format ${p.query_params!.q}`);
        return { json: async () => [{ q: p.query_params!.q }] };
      }
      calls.push(`run ${p.query}`);
      await new Promise((r) => setTimeout(r, delayMs));
      if (p.query.includes('FAIL')) throw Object.assign(new Error('Timeout exceeded: elapsed 1000 ms'), { code: '159', type: 'TIMEOUT_EXCEEDED' });
      return { text: async () => JSON.stringify({ meta: [{ name: 'x', type: 'UInt8' }], data: [[1]], rows: 1 }) };
    },
    async command(p: { query: string }) {
      calls.push(`command ${p.query}`);
      return {};
    },
  };
  return { client: client as unknown as ClickHouseClient, calls };
}

const q = (query: string) => ({ query, format: 'JSON' as const, params: {} });

describe('AnalystSql', () => {
  it('embedded: runs one query at a time', async () => {
    const { client, calls } = fakeClient(20);
    const analyst = new AnalystSql(client, 'embedded');
    const results = await Promise.allSettled([analyst.run(q('SELECT FAIL')), analyst.run(q('SELECT 1'))]);
    expect(results[0]).toMatchObject({ status: 'rejected', reason: { code: 'sql_limit' } });
    expect(results[1]).toMatchObject({ status: 'fulfilled', value: { rows: [[1]], rowCount: 1 } });
    // (Clearing a failed query's leftovers from the connection is the storage layer's job: see src/storage/client.test.ts.)
    expect(calls).toEqual(['format SELECT FAIL', 'run SELECT FAIL', 'format SELECT 1', 'run SELECT 1']);
  });

  it('answers sql_busy when too many queries wait, and serves the waiting ones in order', async () => {
    const { client, calls } = fakeClient(30);
    const analyst = new AnalystSql(client, 'embedded', { concurrency: 1, maxWaiting: 2 });
    const runs = ['SELECT 1', 'SELECT 2', 'SELECT 3', 'SELECT 4'].map((s) => analyst.run(q(s)));
    const settled = await Promise.allSettled(runs);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected']);
    const busy = (settled[3] as PromiseRejectedResult).reason;
    expect(busy).toBeInstanceOf(AnalystSqlError);
    expect(busy).toMatchObject({ code: 'sql_busy', message: '3 analyst queries are running or waiting; retry shortly' });
    expect(calls.filter((c) => c.startsWith('run'))).toEqual(['run SELECT 1', 'run SELECT 2', 'run SELECT 3']);
    // Once they finished, there is room again.
    await expect(analyst.run(q('SELECT 5'))).resolves.toMatchObject({ rowCount: 1 });
  });

  it('server: queries run side by side', async () => {
    const { client, calls } = fakeClient(30);
    const analyst = new AnalystSql(client, 'server');
    const started = Date.now();
    await Promise.allSettled([analyst.run(q('SELECT FAIL')), analyst.run(q('SELECT 1')), analyst.run(q('SELECT 2'))]);
    expect(Date.now() - started).toBeLessThan(80);
  });

  it('refuses a write before running anything', async () => {
    const { client, calls } = fakeClient();
    await expect(new AnalystSql(client, 'embedded').run(q('DROP TABLE events'))).rejects.toMatchObject({ code: 'sql_refused' });
    expect(calls).toEqual(['format DROP TABLE events']);
  });
});
