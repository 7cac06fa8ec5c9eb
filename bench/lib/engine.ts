import { Readable } from 'node:stream';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import { loadConfig } from '../../src/config.js';
import { migrate } from '../../src/storage/migrations.js';

type ClientConnection = NonNullable<NonNullable<Parameters<typeof createClient>[0]>['connection']>;

/**
 * An embedded engine on a service data directory, opened the way the service opens it (loadConfig resolves
 * `<dataDir>/clickhouse`). chDB allows one data directory per process: close it before opening another.
 */
export function openEngine(dataDir: string): ClickHouseClient {
  const config = loadConfig({ STRIPEMETER_DATA_DIR: dataDir });
  if (config.clickhouse.mode !== 'embedded') throw new Error('expected the embedded engine');
  const connection = createChdbConnection({ path: config.clickhouse.path }) as unknown as ClientConnection;
  return createClient({ connection });
}

/** The service's own migrations, so the table shape (events + counter materialized views) is identical. */
export async function migrateEngine(client: ClickHouseClient): Promise<void> {
  await migrate(client, { cluster: undefined });
}

/** One raw `INSERT INTO events FORMAT JSONEachRow` with a pre-built body. */
export async function rawInsert(client: ClickHouseClient, body: string): Promise<void> {
  const result = await client.exec({ query: 'INSERT INTO events FORMAT JSONEachRow', values: Readable.from([body]) });
  result.stream.resume();
}

export async function truncateEvents(client: ClickHouseClient): Promise<void> {
  for (const t of ['events', 'usage_hourly_counters', 'usage_period_counters']) await client.command({ query: `TRUNCATE TABLE ${t}` });
}

export async function rows<T>(client: ClickHouseClient, query: string): Promise<T[]> {
  const rs = await client.query({ query, format: 'JSONEachRow' });
  return rs.json<T>();
}

export type TableParts = { table: string; parts: number; rows: number; bytesOnDisk: number; compressed: number; uncompressed: number };

export async function activeParts(client: ClickHouseClient): Promise<TableParts[]> {
  const r = await rows<{ table: string; parts: string; rows: string; bytes: string; compressed: string; uncompressed: string }>(
    client,
    `SELECT table, count() AS parts, sum(rows) AS rows, sum(bytes_on_disk) AS bytes,
            sum(data_compressed_bytes) AS compressed, sum(data_uncompressed_bytes) AS uncompressed
     FROM system.parts
     WHERE active AND database = currentDatabase()
       AND table IN ('events', 'usage_hourly_counters', 'usage_period_counters')
     GROUP BY table ORDER BY table`,
  );
  return r.map((x) => ({
    table: x.table,
    parts: Number(x.parts),
    rows: Number(x.rows),
    bytesOnDisk: Number(x.bytes),
    compressed: Number(x.compressed),
    uncompressed: Number(x.uncompressed),
  }));
}

/** Merges everything down (OPTIMIZE ... FINAL) so sizes reflect the steady state after background merges. */
export async function optimizeAll(client: ClickHouseClient): Promise<number> {
  const t0 = performance.now();
  for (const t of ['events', 'usage_hourly_counters', 'usage_period_counters']) await client.command({ query: `OPTIMIZE TABLE ${t} FINAL` });
  return performance.now() - t0;
}

/**
 * `count` events of tenant demo inserted by the engine itself (through the tables and their views, as ingest stores
 * them), spread over 20 days, from event number `first` on. Returns the milliseconds it took.
 */
export async function preloadEvents(client: ClickHouseClient, count: number, first = 0): Promise<number> {
  const t0 = performance.now();
  for (let from = first; from < first + count; from += 1_000_000) {
    await client.command({
      query: `INSERT INTO events (tenant_id, idempotency_key, metric, customer_ref, quantity, ts, period, source, payload_hash)
        SELECT 'demo', toString(generateUUIDv4(number)), ['api_calls', 'tokens', 'storage_gb'][number % 3 + 1],
          concat('cus_', toString(cityHash64(number) % 3000)), toDecimal128(1 + number % 7, 6),
          now64(3) - toIntervalMillisecond(cityHash64(number, 1) % (20 * 86400000)) AS t, formatDateTime(t, '%Y-%m'),
          'preload', substring(hex(cityHash64(number, 2)), 1, 16)
        FROM numbers({from:UInt64}, {n:UInt64})`,
      query_params: { from, n: Math.min(1_000_000, first + count - from) },
    });
  }
  return performance.now() - t0;
}
