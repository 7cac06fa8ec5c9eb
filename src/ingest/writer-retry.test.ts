import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import { createMetrics } from '../ops/metrics.js';
import { ingestWrittenTables } from '../storage/durability.js';
import { loadSql } from '../storage/sql.js';
import { prepareEvent, type EventRow } from './event.js';
import { IngestWriter } from './writer.js';
import { openTestStorage, type TestStorage } from '../../test/support/storage.js';

// An INSERT that lands but reports a failure (a connection cut after the engine committed) is retried with the same
// deduplication token: events must keep one copy, and every table its materialized views write must count it once.
let storage: TestStorage;
beforeAll(async () => {
  storage = await openTestStorage('retry');
});
afterAll(async () => {
  await storage?.destroy();
});

const ts = new Date(Date.now() - 60_000).toISOString();
const row = (key: string, quantity: string): EventRow => {
  const r = prepareEvent(
    { tenantId: 't_retry', metric: 'calls', customerRef: 'cus_1', quantity, ts, idempotencyKey: key },
    { nowMs: Date.now(), retentionMs: 86400_000, timeZoneOf: () => 'UTC' },
  );
  if (!r.ok) throw new Error(r.error.message);
  return r.row;
};

async function one<T>(query: string): Promise<T> {
  const rs = await storage.api.query({ query, format: 'JSONEachRow' });
  return (await rs.json<T>())[0]!;
}

/** The next events INSERT on the ingest connection runs for real, then throws as a cut connection would. */
function landThenFailOnce(): { failures: () => number } {
  const client = storage.ingest;
  const exec = client.exec.bind(client);
  let failures = 0;
  client.exec = (async (params: Parameters<typeof exec>[0]) => {
    const result = await exec(params);
    if (failures > 0 || !params.query.startsWith('INSERT INTO events ')) return result;
    failures++;
    // The whole response read: the block is committed before the failure is reported.
    for await (const _ of result.stream) void _;
    throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
  }) as typeof client.exec;
  return { failures: () => failures };
}

describe('an events INSERT that landed and then reported a failure', () => {
  it('is retried with the same token, and events, event_keys and both counters hold it once', async () => {
    const injected = landThenFailOnce();
    const writer = new IngestWriter(storage.ingest, storage.lookup, { maxRows: 1000, maxWaitMs: 5, latenessWindowMs: 86400_000 }, createMetrics(), createLogger('silent'));
    const outcomes = await writer.write([row('r1', '1.5'), row('r2', '2')]);
    await writer.close();
    expect(injected.failures()).toBe(1);
    expect(outcomes.map((o) => o.status)).toEqual(['accepted', 'accepted']);

    const t = "tenant_id = 't_retry'";
    expect(await one(`SELECT toString(count()) AS n, toString(sum(quantity)) AS q FROM events WHERE ${t}`)).toEqual({ n: '2', q: '3.5' });
    expect(await one(`SELECT toString(count()) AS n FROM event_keys WHERE ${t}`)).toEqual({ n: '2' });
    for (const table of ['usage_hourly_counters', 'usage_period_counters']) {
      expect(await one(`SELECT toString(sum(events)) AS n, toString(sum(quantity)) AS q FROM ${table} WHERE ${t}`), table).toEqual({ n: '2', q: '3.5' });
    }
  });

  it('every table an ingest INSERT writes through a materialized view deduplicates retried blocks', async () => {
    // events and watermarks are inserted into directly (events has its own window; a repeated watermark is harmless).
    const tables = (await ingestWrittenTables(storage.jobs, {})).filter((t) => t !== 'events' && t !== 'watermarks');
    expect(tables).toEqual(expect.arrayContaining(['event_keys', 'usage_hourly_counters', 'usage_period_counters']));
    const rs = await storage.jobs.query({ query: loadSql('storage/table_engines'), query_params: { tables }, format: 'JSONEachRow' });
    for (const t of await rs.json<{ name: string; engine: string; engine_full: string }>()) {
      if (t.engine.endsWith('MergeTree')) expect(t.engine_full, t.name).toMatch(/\bnon_replicated_deduplication_window = [1-9]/);
    }
  });
});
