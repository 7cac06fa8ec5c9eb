import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolveAdminKey } from './auth/admin-key.js';
import { ApiKeyStore } from './auth/keys.js';
import type { Config } from './config.js';
import { createApp } from './http/app.js';
import type { Deps } from './http/deps.js';
import { IngestWriter } from './ingest/writer.js';
import { createLogger, type Logger } from './log.js';
import { migrationsCheck, storageCheck } from './ops/health.js';
import { createMetrics } from './ops/metrics.js';
import { openStorage } from './storage/client.js';
import { migrate } from './storage/migrations.js';
import { TenantStore } from './tenants/store.js';

export type RunningService = {
  url: string;
  port: number;
  adminKey: string;
  deps: Deps;
  /** Stops taking connections, finishes in-flight requests and queued ingest, then closes storage. */
  stop(): Promise<void>;
};

export async function startService(config: Config, log: Logger = createLogger(config.logLevel)): Promise<RunningService> {
  const storage = await openStorage(config);
  try {
    const { applied } = await migrate(storage.jobs, { cluster: config.cluster }, undefined, (m) => log.info(m));
    if (applied.length) log.info({ applied }, 'migrations applied');
    const admin = resolveAdminKey(config.dataDir, config.adminKey);
    log.info({ source: admin.source }, 'admin key loaded');
    const tenants = new TenantStore(storage.api);
    if (config.demoTenant) {
      const { created } = await tenants.create('demo', 'UTC');
      if (created) log.info('created demo tenant');
    }
    const metrics = createMetrics();
    const deps: Deps = {
      config,
      log,
      storage,
      metrics,
      tenants,
      keys: new ApiKeyStore(storage.api, admin.key, config.apiKeyCacheTtlMs),
      writer: new IngestWriter(storage.ingest, { maxRows: config.ingestMaxBatchRows, maxWaitMs: config.ingestMaxWaitMs }, metrics, log),
      checks: [storageCheck(storage.api), migrationsCheck(storage.api)],
    };
    const server = http.createServer(createApp(deps).callback());
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
    log.info({ url, storage: storage.mode }, 'stripemeter listening');

    let stopping: Promise<void> | undefined;
    const stop = () =>
      (stopping ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
        await deps.writer.close();
        await storage.close();
        log.info('stopped');
      })());
    return { url, port, adminKey: admin.key, deps, stop };
  } catch (err) {
    await storage.close();
    throw err;
  }
}
