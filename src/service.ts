import http from 'node:http';
import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import { resolveAdminKey } from './auth/admin-key.js';
import { AnalystSql } from './analyst/runner.js';
import { ApiKeyStore } from './auth/keys.js';
import type { Config } from './config.js';
import { createApp } from './http/app.js';
import type { Deps } from './http/deps.js';
import { IngestWriter } from './ingest/writer.js';
import { KeyIndex } from './ingest/dedupe/key-index.js';
import { createLogger, type Logger } from './log.js';
import { migrationsCheck, registerReadinessMetrics, storageCheck, workersCheck } from './ops/health.js';
import { createMetrics } from './ops/metrics.js';
import { DiskMonitor, diskSources } from './ops/disk.js';
import { PeriodicJob } from './ops/schedule.js';
import { BackupJobs } from './lifecycle/backup-jobs.js';
import { assertNoRestoreInProgress } from './lifecycle/restore.js';
import { openStorage } from './storage/client.js';
import { migrate } from './storage/migrations.js';
import { applyIngestDurability } from './storage/durability.js';
import { seedDemo } from './stripe/demo.js';
import { stripeCheck } from './stripe/health.js';
import { PushLedger } from './stripe/ledger.js';
import { StripeLimiter } from './stripe/limiter.js';
import { MappingStore } from './stripe/mappings.js';
import { MeterStore } from './meters/definitions.js';
import { PushEngine, type CycleResult } from './stripe/push.js';
import { openStripe } from './stripe/runtime.js';
import { AdjustmentStore } from './adjustments/store.js';
import { ReplayRunner } from './replay/replay.js';
import { Retention, type RetentionRun } from './lifecycle/retention.js';
import { Reconciler, type ReconRun } from './reconcile/reconcile.js';
import type { TenantContextOf } from './tenants/context.js';
import { TenantStore } from './tenants/store.js';
import { toClickHouseTime } from './storage/time.js';
import { insertHeartbeat } from './storage/queries/ops.js';

export type RunningService = {
  url: string;
  port: number;
  adminKey: string;
  deps: Deps;
  /**
   * Stops taking connections, finishes in-flight requests and queued ingest, lets a running push cycle end (no new
   * Stripe attempt starts), then closes storage; within SHUTDOWN_TIMEOUT, past which work still in flight (a call
   * to an unreachable Stripe) is abandoned: push intents are saved before their call, so they stay pending and are
   * sent again, with the same identifier, at the next start.
   */
  stop(): Promise<void>;
};

export type ServiceOptions = {
  /** Run the background workers (push job) in this process: `start` and `workers` do, `api` does not. */
  workers: boolean;
};

export async function startService(
  config: Config,
  log: Logger = createLogger(config.logLevel),
  options: ServiceOptions = { workers: true },
): Promise<RunningService> {
  assertNoRestoreInProgress(config.dataDir);
  const storage = await openStorage(config);
  const closers: Array<() => Promise<void>> = [() => storage.close()];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close();
  };
  try {
    const { applied } = await migrate(storage.jobs, { cluster: config.cluster }, undefined, (m) => log.info(m));
    if (applied.length) log.info({ applied }, 'migrations applied');
    // After migrations, so a view target added by one is covered; before ingest takes its first request.
    const durability = await applyIngestDurability(storage.jobs, config.ingestDurability, { cluster: config.cluster });
    if (durability.length) log.info({ mode: config.ingestDurability, tables: durability.map((c) => c.table) }, 'ingest durability applied');
    const admin = resolveAdminKey(config.dataDir, config.adminKey);
    log.info({ source: admin.source }, 'admin key loaded');
    const tenants = new TenantStore(storage.api);
    const mappings = new MappingStore(storage.api);
    const meters = new MeterStore(storage.api);
    const stripe = await openStripe(config, log);
    closers.push(() => stripe.close());
    if (config.demoTenant) {
      const { created } = await tenants.create('demo', 'UTC');
      if (created) log.info('created demo tenant');
      if (stripe.mode === 'sandbox') await seedDemo(stripe.client, mappings, log);
    }
    const metrics = createMetrics();
    // Sampled before the first request, so a full volume refuses ingest from the start.
    const disk = new DiskMonitor(diskSources(config, storage.jobs), config.disk, metrics, log.child({ component: 'disk' }));
    await disk.start();
    closers.push(async () => disk.stop());

    const ledger = new PushLedger(storage.jobs);
    // One limiter for every Stripe call of the process: pushes and reconciliation reads share the account's rate.
    const limiter = new StripeLimiter(config.stripe.maxRps, config.stripe.maxInFlight);
    const tenantOf: TenantContextOf = (id) => tenants.context(id);
    const engine = new PushEngine({
      ledger,
      gateway: stripe.gateway,
      limiter,
      tenantOf,
      metrics,
      log: log.child({ component: 'push' }),
      opts: { settleAfterMs: config.push.settleAfterMs, failedRetryBaseMs: config.push.failedRetryMs },
    });
    const worker = `${os.hostname()}:${process.pid}`;
    const heartbeat = (job: string) => async (ok: boolean) => {
      await insertHeartbeat(storage.jobs, [{ job, worker, lastRunAt: toClickHouseTime(Date.now()), ok: ok ? 1 : 0 }]);
    };
    // Scheduled: every tenant, one at a time; POST /v1/push/run: one tenant.
    const pushJob = new PeriodicJob<CycleResult[]>(
      'push',
      config.push.intervalMs,
      async (tenantId) => (tenantId ? [await engine.cycle(tenantId)] : await engine.cycleAll((await tenants.list()).map((t) => t.id))),
      log,
      options.workers ? heartbeat('push') : undefined,
    );

    // The key index rebuilds a tenant's filter only once the writer's groups in flight have committed.
    let writer: IngestWriter | undefined;
    const committed = () => writer?.committed() ?? Promise.resolve();
    const keyIndex = config.ingestKeys.filter ? await loadKeyIndex(config, storage.keys, committed, log) : undefined;
    writer = new IngestWriter(
      storage.ingest,
      storage.lookup,
      {
        maxRows: config.ingestMaxBatchRows,
        maxWaitMs: config.ingestMaxWaitMs,
        latenessWindowMs: config.latenessWindowMs,
        queueMaxRows: config.ingestQueueMaxRows,
        queueMaxBytes: config.ingestQueueMaxBytes,
      },
      metrics,
      log,
      keyIndex,
    );
    if (keyIndex) {
      const gauges = () => {
        const stats = keyIndex.stats();
        metrics.keyFilterKeys.set(stats.keys);
        metrics.keyFilterBytes.set(stats.filterBytes);
      };
      gauges();
      const timers = [
        setInterval(gauges, 10_000),
        setInterval(() => {
          keyIndex.snapshot().catch((err: unknown) => log.error({ err }, 'key filter snapshot failed'));
        }, config.ingestKeys.snapshotIntervalMs),
      ];
      for (const t of timers) t.unref();
      closers.push(async () => timers.forEach(clearInterval));
    }
    const retention = new Retention(
      { jobs: storage.jobs, api: storage.api },
      { rawEventsMs: config.retention.rawEventsMs, rawEvents: config.retention.rawEvents, target: { cluster: config.cluster } },
      metrics,
      log.child({ component: 'retention' }),
    );
    const retentionJob = new PeriodicJob<RetentionRun>(
      'retention',
      config.retention.intervalMs,
      () => retention.run(),
      log,
      options.workers ? heartbeat('retention') : undefined,
    );
    const replay = new ReplayRunner(storage.replay, storage.api, writer, metrics, log.child({ component: 'replay' }), {
      chunkMs: config.replay.chunkMs,
      hasMeters: (tenantId, metrics) => meters.hasAny(tenantId, metrics),
      retained: (startMs) => retention.check(startMs, 'the window (widened to whole hours)'),
    });
    const interrupted = await replay.markInterrupted();
    if (interrupted) log.warn({ interrupted }, 'replays left running by a stopped process were marked interrupted');
    const adjustments = { store: new AdjustmentStore(storage.api), ledger, betweenPushes: <R>(fn: () => Promise<R>) => pushJob.runExclusive(fn) };
    const reconciler = new Reconciler({
      client: storage.jobs,
      gateway: stripe.gateway,
      limiter,
      adjustments,
      tenantOf,
      metrics,
      log: log.child({ component: 'reconcile' }),
      opts: { epsilon: config.recon.epsilon, settleMs: config.recon.settleMs },
    });
    const reconJob = new PeriodicJob<ReconRun[]>(
      'reconciliation',
      config.recon.intervalMs,
      async () => {
        const runs: ReconRun[] = [];
        for (const t of await tenants.list()) runs.push(await reconciler.run(t.id, null, 'schedule'));
        return runs;
      },
      log,
      options.workers ? heartbeat('reconciliation') : undefined,
    );
    // A backup's freeze waits for a running reconciliation, then a push cycle (reconciliation takes the push lock
    // itself, so this order cannot deadlock), then the ingest groups and replays writing: one point for every table.
    const backups =
      config.clickhouse.mode === 'embedded'
        ? new BackupJobs({
            client: storage.jobs,
            engineDir: config.clickhouse.path,
            backupRoot: config.backupRoot,
            dataDir: config.dataDir,
            log: log.child({ component: 'backup' }),
            quiesce: (fn) => reconJob.runExclusive(() => pushJob.runExclusive(() => writer.pause(fn))),
          })
        : undefined;
    const deps: Deps = {
      config,
      log,
      storage,
      metrics,
      tenants,
      // A metric without a meter definition is a sum.
      aggregationOf: async (tenantId, metric) => (await meters.get(tenantId, metric))?.aggregation ?? 'sum',
      mappings,
      meters,
      stripe,
      push: { engine, job: pushJob, workersHere: options.workers },
      retention: { policy: retention, job: retentionJob },
      keys: new ApiKeyStore(storage.api, admin.key, config.apiKeyCacheTtlMs),
      analyst: new AnalystSql({
        client: storage.analyst,
        catalog: storage.api,
        mode: storage.mode,
        secrets: [admin.key, config.stripe.secretKey ?? ''],
      }),
      writer,
      disk,
      replay,
      backups,
      adjustments,
      reconcile: { reconciler, runNow: (tenantId, metric) => reconJob.runExclusive(() => reconciler.run(tenantId, metric, 'api')) },
      checks: [
        storageCheck(storage.api),
        migrationsCheck(storage.api),
        workersCheck(storage.api, [
          { name: 'push', intervalMs: config.push.intervalMs },
          { name: 'reconciliation', intervalMs: config.recon.intervalMs },
          ...(retention.enabled ? [{ name: 'retention', intervalMs: config.retention.intervalMs }] : []),
        ]),
        stripeCheck(stripe, options.workers ? engine : undefined, storage.api, config.push.lagThresholdMs),
        disk.check(),
      ],
    };
    registerReadinessMetrics(metrics.registry, deps.checks);
    const server = http.createServer(createApp(deps).callback());
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
    if (options.workers) {
      pushJob.start();
      reconJob.start();
      if (retention.enabled) retentionJob.start();
    }
    log.info({ url, storage: storage.mode, stripe: stripe.mode, workers: options.workers, metricsToken: config.metricsToken !== undefined }, 'stripemeter listening');
    if (config.metricsToken === undefined) log.warn('METRICS_TOKEN is unset: /metrics, whose labels name tenants and customers, answers anyone who reaches the port');

    let stopping: Promise<void> | undefined;
    const stop = () =>
      (stopping ??= (async () => {
        const deadline = performance.now() + config.shutdownTimeoutMs;
        const left = () => Math.max(0, deadline - performance.now());
        engine.stop();
        const graceful = (async () => {
          // Requests and jobs still waiting (on Stripe) past the deadline less a second kept for closing are left
          // behind, so that storage still closes; their late ledger writes then fail, harmlessly.
          const serverClosed = new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeIdleConnections();
          });
          if (!(await settlesWithin(serverClosed, left() - 1000))) server.closeAllConnections();
          // A backup ending copies what it froze; one cut short is cleaned up by the next.
          await backups?.settle();
          await deps.writer.close();
          await deps.replay.flush();
          const jobs = Promise.all([pushJob.stop(), reconJob.stop(), retentionJob.stop()]);
          if (!(await settlesWithin(jobs, left() - 1000))) {
            log.warn('background jobs still waiting on Stripe at shutdown: their push intents stay pending for the next start');
          }
          await closeAll();
        })();
        if (await settlesWithin(graceful, left())) {
          await graceful;
          log.info('stopped');
        } else {
          server.closeAllConnections();
          log.warn({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out (SHUTDOWN_TIMEOUT); abandoning work in flight');
        }
      })());
    return { url, port, adminKey: admin.key, deps, stop };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** Whether the promise settles within `ms` (a rejection counts as settled: the caller goes on either way). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, ms))));
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Loads the ingest key filters (snapshot plus the keys inserted since, or a full rebuild) before ingest starts. */
async function loadKeyIndex(config: Config, client: ClickHouseClient, settled: () => Promise<void>, log: Logger): Promise<KeyIndex> {
  const file = path.join(config.dataDir, 'dedupe', 'key-filter.bin');
  const keyIndex = new KeyIndex(client, { file, recentKeys: config.ingestKeys.recentKeys, settled }, log);
  const report = await keyIndex.load();
  log.info({ ...report, ms: Math.round(report.ms) }, 'ingest key filter loaded');
  return keyIndex;
}
