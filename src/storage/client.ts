import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import type { Config } from '../config.js';
import { analystServerSettings, analystSetStatements } from '../analyst/settings.js';
import { ensurePrivateDir } from './private-files.js';

/**
 * One client per role. With the embedded engine a connection runs one operation at a time, so a slow
 * analyst or background query on a shared connection would stall ingest; separate connections run concurrently.
 * Ingest has two: `ingest` inserts while `lookup` already checks the next group's keys. `replay` runs replay's diffs
 * and corrections, so an operator's replay never queues behind a push or reconciliation (`jobs`). `analyst` runs
 * analysts' SQL (`POST /v1/sql`) and is read-only with limits (lockAnalyst). `keys` reads back idempotency keys for
 * the ingest key filter (at start and when a tenant's filter is rebuilt), a long scan that must not hold up `lookup`.
 */
type ClientConnection = NonNullable<NonNullable<Parameters<typeof createClient>[0]>['connection']>;

export const roles = ['ingest', 'lookup', 'keys', 'api', 'jobs', 'replay', 'analyst'] as const;
export type Role = (typeof roles)[number];

export type Storage = Record<Role, ClickHouseClient> & {
  mode: 'embedded' | 'server';
  close(): Promise<void>;
};

function clientFor(config: Config, role: Role): ClickHouseClient {
  const ch = config.clickhouse;
  if (ch.mode === 'embedded') {
    // chdb re-exports client-common's Connection type, which differs nominally from the one bundled in @clickhouse/client.
    const connection = createChdbConnection({ path: ch.path }) as unknown as ClientConnection;
    return recoverAfterFailure(createClient({ connection }));
  }
  // Analysts' SQL runs as its own read-only user when one is configured: the server then refuses what the guard
  // would, a second line of defence.
  const user = role === 'analyst' && ch.analyst ? ch.analyst : { username: ch.username, password: ch.password };
  return createClient({
    url: ch.url,
    ...user,
    database: ch.database,
    request_timeout: role === 'analyst' ? Math.max(60_000, config.sql.maxExecutionMs + 30_000) : 60_000,
    // Never per-call settings (they leak into the session in embedded mode); statements carry their own SETTINGS.
    // The analyst client is the exception, in server mode only: read-only and limits on each of its HTTP requests.
    ...(role === 'analyst' ? { clickhouse_settings: analystServerSettings(config.sql) } : {}),
  });
}

/**
 * chDB leaves the partial output of a query that failed midway on its connection, and hands it to the next query
 * as part of that one's result (seen here). After any failed call, a throwaway query on the same connection takes
 * it, so no role ever reads another statement's leftovers.
 */
function recoverAfterFailure(client: ClickHouseClient): ClickHouseClient {
  const command = client.command.bind(client);
  for (const method of ['query', 'command', 'exec', 'insert'] as const) {
    const call = (client[method] as (params: unknown) => Promise<unknown>).bind(client);
    Object.assign(client, {
      [method]: async (params: unknown) => {
        try {
          return await call(params);
        } catch (err) {
          await command({ query: 'SELECT 1' }).catch(() => undefined);
          throw err;
        }
      },
    });
  }
  return client;
}

export async function openStorage(config: Config): Promise<Storage> {
  ensurePrivateDir(config.dataDir);
  if (config.clickhouse.mode === 'embedded') ensurePrivateDir(config.clickhouse.path);
  if (config.clickhouse.mode === 'server') await ensureDatabase(config);
  const clients = Object.fromEntries(roles.map((r) => [r, clientFor(config, r)])) as Record<Role, ClickHouseClient>;
  if (config.clickhouse.mode === 'embedded') {
    try {
      await lockAnalyst(clients.analyst, config);
    } catch (err) {
      await Promise.all(roles.map((r) => clients[r].close()));
      throw err;
    }
  }
  return {
    ...clients,
    mode: config.clickhouse.mode,
    async close() {
      // chDB allows one data directory per process: every connection must close before the path can be reopened.
      await Promise.all(roles.map((r) => clients[r].close()));
    },
  };
}

/**
 * Embedded mode: an embedded connection is one engine session, and session settings stay inside it (measured;
 * docs/architecture.md, "Connections"). So the analyst connection gets its limits once, then `readonly = 1` last: from then on it can neither
 * write nor change a setting, for good. Never per-call settings on it (they would be SETs, refused once read-only).
 */
async function lockAnalyst(client: ClickHouseClient, config: Config): Promise<void> {
  for (const statement of analystSetStatements(config.sql)) await client.command({ query: statement });
  const rs = await client.query({ query: "SELECT getSetting('readonly') AS readonly", format: 'JSONEachRow' });
  const [row] = await rs.json<{ readonly: number | string }>();
  if (Number(row?.readonly) !== 1) throw new Error('the analyst connection did not become read-only');
}

async function ensureDatabase(config: Config): Promise<void> {
  const ch = config.clickhouse;
  if (ch.mode !== 'server' || ch.database === 'default') return;
  const admin = createClient({ url: ch.url, username: ch.username, password: ch.password, database: 'default' });
  try {
    const onCluster = config.cluster ? ` ON CLUSTER \`${config.cluster}\`` : '';
    // Identifiers cannot be query parameters; the name was validated as a plain identifier by the config schema.
    await admin.command({ query: `CREATE DATABASE IF NOT EXISTS \`${ch.database}\`${onCluster}` });
  } finally {
    await admin.close();
  }
}
