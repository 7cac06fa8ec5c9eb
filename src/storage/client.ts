import { mkdirSync } from 'node:fs';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import type { Config } from '../config.js';

/**
 * One client per role. With the embedded engine a connection runs one operation at a time, so a slow
 * analyst or background query on a shared connection would stall ingest; separate connections run concurrently.
 * Ingest has two: `ingest` inserts while `lookup` already checks the next group's keys.
 */
type ClientConnection = NonNullable<NonNullable<Parameters<typeof createClient>[0]>['connection']>;

export const roles = ['ingest', 'lookup', 'api', 'jobs'] as const;
export type Role = (typeof roles)[number];

export type Storage = Record<Role, ClickHouseClient> & {
  mode: 'embedded' | 'server';
  close(): Promise<void>;
};

function clientFor(config: Config): ClickHouseClient {
  const ch = config.clickhouse;
  if (ch.mode === 'embedded') {
    // chdb re-exports client-common's Connection type, which differs nominally from the one bundled in @clickhouse/client.
    const connection = createChdbConnection({ path: ch.path }) as unknown as ClientConnection;
    return createClient({ connection });
  }
  return createClient({
    url: ch.url,
    username: ch.username,
    password: ch.password,
    database: ch.database,
    request_timeout: 60_000,
    // Never per-call settings (they leak into the session in embedded mode); statements carry their own SETTINGS.
  });
}

export async function openStorage(config: Config): Promise<Storage> {
  if (config.clickhouse.mode === 'embedded') mkdirSync(config.clickhouse.path, { recursive: true });
  if (config.clickhouse.mode === 'server') await ensureDatabase(config);
  const clients = Object.fromEntries(roles.map((r) => [r, clientFor(config)])) as Record<Role, ClickHouseClient>;
  return {
    ...clients,
    mode: config.clickhouse.mode,
    async close() {
      // chDB allows one data directory per process: every connection must close before the path can be reopened.
      await Promise.all(roles.map((r) => clients[r].close()));
    },
  };
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
