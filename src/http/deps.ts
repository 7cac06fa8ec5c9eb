import type { AdjustmentDeps } from '../adjustments/lifecycle.js';
import type { AnalystSql } from '../analyst/runner.js';
import type { ApiKeyStore } from '../auth/keys.js';
import type { Config } from '../config.js';
import type { IngestWriter } from '../ingest/writer.js';
import type { BackupJobs } from '../lifecycle/backup-jobs.js';
import type { Logger } from '../log.js';
import type { Check } from '../ops/health.js';
import type { DiskMonitor } from '../ops/disk.js';
import type { Metrics } from '../ops/metrics.js';
import type { Storage } from '../storage/client.js';
import type { Aggregation } from '../meters/definitions.js';
import type { MappingStore } from '../stripe/mappings.js';
import type { MeterStore } from '../meters/definitions.js';
import type { CycleResult, PushEngine } from '../stripe/push.js';
import type { StripeRuntime } from '../stripe/runtime.js';
import type { PeriodicJob } from '../ops/schedule.js';
import type { ReplayRunner } from '../replay/replay.js';
import type { Retention, RetentionRun } from '../lifecycle/retention.js';
import type { Reconciler, ReconRun } from '../reconcile/reconcile.js';
import type { TenantStore } from '../tenants/store.js';

/** What route handlers need, built once by the service and passed down. */
export type Deps = {
  config: Config;
  log: Logger;
  storage: Storage;
  metrics: Metrics;
  tenants: TenantStore;
  /** How a metric aggregates, which decides the Stripe meter formula its mapping needs. */
  aggregationOf: (tenantId: string, metric: string) => Promise<Aggregation>;
  keys: ApiKeyStore;
  /** Analysts' SQL (`POST /v1/sql`), on the read-only analyst connection. */
  analyst: AnalystSql;
  writer: IngestWriter;
  /** Free space on the data volume: ingest and replay apply are refused (507) below its floor. */
  disk: DiskMonitor;
  checks: Check[];
  mappings: MappingStore;
  meters: MeterStore;
  replay: ReplayRunner;
  adjustments: AdjustmentDeps;
  reconcile: { reconciler: Reconciler; runNow: (tenantId: string, metric: string | null) => Promise<ReconRun> };
  stripe: StripeRuntime;
  /** The push job; `workersHere` is false in an `api`-only process, which must not push. */
  push: { engine: PushEngine; job: PeriodicJob<CycleResult[]>; workersHere: boolean };
  /** Backups through the service: embedded mode only (a server backs itself up with BACKUP). */
  backups?: BackupJobs;
  /** RAW_EVENT_RETENTION: the horizon replay checks, and the job (run by the workers). */
  retention: { policy: Retention; job: PeriodicJob<RetentionRun> };
};
