import { afterAll, describe, expect, it } from 'vitest';
import { event, startTestService, type TestService } from '../../test/support/service.js';
import { ConfigError, loadConfig } from '../config.js';
import { ingestWrittenTables } from './durability.js';

let svc: TestService | undefined;
afterAll(async () => {
  await svc?.destroy();
});

async function rows<T>(s: TestService, query: string, params: Record<string, unknown> = {}): Promise<T[]> {
  const rs = await s.deps.storage.api.query({ query, query_params: params, format: 'JSONEachRow' });
  return rs.json<T>();
}

/** The targets of the views reading from events, read independently of the module under test. */
async function eventViewTargets(s: TestService): Promise<string[]> {
  const r = await rows<{ t: string }>(
    s,
    `SELECT target_table AS t FROM system.tables
     WHERE database = currentDatabase() AND engine = 'MaterializedView'
       AND has((SELECT dependencies_table FROM system.tables WHERE database = currentDatabase() AND name = 'events'), name)`,
  );
  return r.map((x) => x.t);
}

async function fsyncSettings(s: TestService, table: string): Promise<{ afterInsert: boolean; partDirectory: boolean; afterMerge: boolean }> {
  const [row] = await rows<{ statement: string }>(s, 'SHOW CREATE TABLE {t:Identifier}', { t: table });
  return {
    afterInsert: /\bfsync_after_insert = 1\b/.test(row!.statement),
    partDirectory: /\bfsync_part_directory = 1\b/.test(row!.statement),
    afterMerge: /\bmin_rows_to_fsync_after_merge = 1\b/.test(row!.statement),
  };
}

const on = { afterInsert: true, partDirectory: true, afterMerge: true };
const off = { afterInsert: false, partDirectory: false, afterMerge: false };

describe('INGEST_DURABILITY', () => {
  it('is none by default and refuses other values', () => {
    expect(loadConfig({}).ingestDurability).toBe('none');
    expect(loadConfig({ INGEST_DURABILITY: 'fsync' }).ingestDurability).toBe('fsync');
    expect(() => loadConfig({ INGEST_DURABILITY: 'sync' })).toThrow(ConfigError);
  });

  it('fsync turns the fsync settings on for events and every table its views write, ingest works, none turns them off', async () => {
    svc = await startTestService({ INGEST_DURABILITY: 'fsync' });
    const targets = await eventViewTargets(svc);
    expect(targets).toEqual(expect.arrayContaining(['usage_hourly_counters', 'usage_period_counters']));
    const tables = await ingestWrittenTables(svc.deps.storage.api, {});
    expect(tables).toEqual(expect.arrayContaining(['events', 'watermarks', ...targets]));
    for (const t of tables) expect(await fsyncSettings(svc, t), t).toEqual(on);
    // A table the ingest commit does not write keeps the engine default.
    expect(await fsyncSettings(svc, 'push_log')).toEqual(off);

    const ingest = await svc.request('POST', '/v1/events/ingest', {
      body: { events: [event({ metric: 'm_durable', quantity: 2, idempotencyKey: 'd1' }), event({ metric: 'm_durable', quantity: 3, idempotencyKey: 'd2' })] },
    });
    expect(ingest.status).toBe(200);
    expect(ingest.body).toMatchObject({ accepted: 2 });
    const usage = await svc.request('GET', '/v1/usage?tenantId=demo&metric=m_durable');
    expect(usage.body.total).toBe('5');

    // The same mode again alters nothing.
    svc = await svc.restart();
    expect(svc.logs.some((l) => l.msg === 'ingest durability applied')).toBe(false);

    await svc.stop();
    svc = await startTestService({ INGEST_DURABILITY: 'none' }, svc.dataDir);
    expect(svc.logs.find((l) => l.msg === 'ingest durability applied')).toMatchObject({ mode: 'none' });
    for (const t of tables) expect(await fsyncSettings(svc, t), t).toEqual(off);
    expect((await svc.request('GET', '/v1/usage?tenantId=demo&metric=m_durable')).body.total).toBe('5');
  });
});
