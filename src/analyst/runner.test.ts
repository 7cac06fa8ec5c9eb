import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestStorage, type TestStorage } from '../../test/support/storage.js';
import { AnalystSqlError } from './errors.js';
import { AnalystSql, type AnalystResult } from './runner.js';

let storage: TestStorage;
beforeAll(async () => {
  storage = await openTestStorage('analyst-runner', { SQL_MAX_EXECUTION_TIME: 'PT2S' });
});
afterAll(async () => {
  await storage?.destroy();
});

const q = (query: string, params: Record<string, string | number> = {}) => ({ query, format: 'JSON' as const, params });
const body = (r: AnalystResult) => JSON.parse([...r.chunks()].join(''));

describe('AnalystSql on the embedded engine', () => {
  it('answers sql_busy when too many queries wait, and serves the waiting ones in order', async () => {
    const analyst = new AnalystSql({ client: storage.analyst, catalog: storage.api, mode: 'embedded', options: { concurrency: 1, maxWaiting: 2 } });
    const settled = await Promise.allSettled([1, 2, 3, 4].map((n) => analyst.run(q(`SELECT ${n} AS n`))));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected']);
    expect(settled.slice(0, 3).map((s) => body((s as PromiseFulfilledResult<AnalystResult>).value).rows)).toEqual([[[1]], [[2]], [[3]]]);
    const busy = (settled[3] as PromiseRejectedResult).reason;
    expect(busy).toBeInstanceOf(AnalystSqlError);
    expect(busy).toMatchObject({ code: 'sql_busy', message: '3 analyst queries are running or waiting; retry shortly' });
    // Once they finished, there is room again.
    await expect(analyst.run(q('SELECT 5'))).resolves.toMatchObject({ rowCount: 1 });
  });

  it('refuses a write before running anything', async () => {
    const analyst = new AnalystSql({ client: storage.analyst, catalog: storage.api, mode: 'embedded' });
    await expect(analyst.run(q('DROP TABLE events'))).rejects.toMatchObject({ code: 'sql_refused' });
    await expect(analyst.run(q('SELECT count() FROM events'))).resolves.toMatchObject({ rowCount: 1 });
  });

  it('binds parameters in milliseconds: a long query with parameters does not hold up parameter queries on other connections', async () => {
    const analyst = new AnalystSql({ client: storage.analyst, catalog: storage.api, mode: 'embedded' });
    const started = performance.now();
    const slow = analyst.run(q('SELECT count() FROM numbers(1e12) WHERE number % {m:UInt64} = 0', { m: 7 })).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 400));
    const waits: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const rs = await storage.api.query({ query: 'SELECT {x:UInt8} AS x', query_params: { x: i }, format: 'JSONEachRow' });
      expect(await rs.json()).toEqual([{ x: i }]);
      waits.push(performance.now() - t0);
    }
    const during = performance.now() - started;
    const outcome = await slow;
    expect(outcome).toMatchObject({ code: 'sql_limit' });
    // The analyst query ran about 2 s; the other queries were answered while it ran.
    expect(during).toBeLessThan(1500);
    expect(Math.max(...waits), waits.map(Math.round).join()).toBeLessThan(300);
  });

  it('returns the same rows with parameters as with the values written in', async () => {
    const analyst = new AnalystSql({ client: storage.analyst, catalog: storage.api, mode: 'embedded' });
    const bound = await analyst.run(q("SELECT {s:String} AS s, {n:Decimal(38, 6)} AS n, number FROM numbers(3) WHERE number IN {l:Array(UInt64)} ORDER BY number", { s: "it's\n\\", n: '1.5', l: [0, 2] } as never));
    const literal = await analyst.run(q("SELECT 'it\\'s\\n\\\\' AS s, toDecimal128('1.5', 6) AS n, number FROM numbers(3) WHERE number IN [0, 2] ORDER BY number"));
    expect(body(bound).rows).toEqual(body(literal).rows);
    expect(body(bound).rows).toEqual([["it's\n\\", '1.5', '0'], ["it's\n\\", '1.5', '2']]);
  });
});
