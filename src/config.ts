import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { keyMode } from './stripe/client.js';
import { parseDuration } from './time/duration.js';
import { cronFor } from './ops/schedule.js';
import { maxBatchEvents } from './http/routes/events/schema.js';
import { durabilityModes, type IngestDurability } from './storage/durability.js';
import { logFormats, type LogFormat } from './log.js';

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .refine((v) => parseDuration(v) !== null, { message: 'must be an ISO 8601 duration such as PT48H or P90D' })
    .transform((v) => parseDuration(v) as number);

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === '' ? undefined : v));

/** Every setting the service reads, with its default. README's configuration table mirrors this. */
const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_FORMAT: z.enum(logFormats).default('auto'),
  STRIPEMETER_DATA_DIR: z.string().min(1).default('./data'),
  STRIPEMETER_ADMIN_KEY: optionalString.pipe(
    z.string().min(24, 'must be at least 24 characters (use a random value)').optional(),
  ),
  // Printable ASCII without spaces: it travels in an Authorization header and in Prometheus' credentials file.
  METRICS_TOKEN: optionalString.pipe(
    z
      .string()
      .min(24, 'must be at least 24 characters (use a random value)')
      .max(256, 'must be at most 256 characters')
      .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
      .optional(),
  ),
  STRIPEMETER_DEMO_TENANT: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  CLICKHOUSE_URL: optionalString.pipe(z.url().optional()),
  CLICKHOUSE_USER: z.string().default('default'),
  CLICKHOUSE_PASSWORD: z.string().default(''),
  /** Server mode: the read-only user analysts' SQL runs as (ops/clickhouse/analyst-user.sh creates it); unset, the service's user with readonly = 1. */
  CLICKHOUSE_ANALYST_USER: optionalString.pipe(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier').optional()),
  CLICKHOUSE_ANALYST_PASSWORD: z.string().default(''),
  CLICKHOUSE_DATABASE: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier').default('default'),
  CLICKHOUSE_CLUSTER: optionalString.pipe(
    z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, 'must be a cluster name from remote_servers').optional(),
  ),
  USAGE_QUERY_MAX_ROWS: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
  USAGE_QUERY_MAX_WINDOWS: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
  /** Where `stripemeter backup` may write (embedded mode): backups go in this directory or below, nowhere else. */
  BACKUP_ROOT: z.string().min(1).default('./backups'),
  EVENT_RETENTION: duration('P90D'),
  // Unset: P400D, or EVENT_RETENTION when that is longer (checked against it below, once both are read).
  RAW_EVENT_RETENTION: optionalString.pipe(
    z
      .string()
      .refine((v) => v === 'off' || parseDuration(v) !== null, { message: 'must be an ISO 8601 duration such as P400D, or off' })
      .optional(),
  ),
  RETENTION_INTERVAL: duration('PT1H').refine((ms) => cronFor(ms) !== null, {
    message: 'must divide a minute, an hour or a day evenly (PT15M, PT1H, PT6H, P1D...)',
  }),
  LATENESS_WINDOW: duration('PT48H'),
  REPLAY_MAX_WINDOW: duration('P92D'),
  REPLAY_SYNC_MAX: duration('P7D'),
  REPLAY_CHUNK: duration('P1D').refine((ms) => ms >= 3600_000 && ms % 3600_000 === 0, { message: 'must be whole hours' }),
  INGEST_MAX_BATCH_ROWS: z.coerce.number().int().min(1000).max(1_000_000).default(20_000),
  INGEST_MAX_WAIT_MS: z.coerce.number().int().min(0).max(1000).default(4),
  INGEST_KEY_FILTER: z.enum(['on', 'off']).default('on'),
  INGEST_RECENT_KEYS: z.coerce.number().int().min(0).max(10_000_000).default(200_000),
  INGEST_KEY_SNAPSHOT_INTERVAL: duration('PT5M').refine((ms) => ms >= 1000, { message: 'must be at least PT1S' }),
  // At least one largest legal request (10,000 events, 5 MiB of body, whose rows estimate a little more), so a
  // refused request fits once the queue drains; an empty queue takes any request anyway.
  INGEST_QUEUE_MAX_ROWS: z.coerce
    .number()
    .int()
    .min(maxBatchEvents, `must be at least ${maxBatchEvents} (the most events one request may carry)`)
    .max(100_000_000)
    .default(200_000),
  INGEST_QUEUE_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(16 * 2 ** 20, 'must be at least 16777216 (16 MiB: a few of the largest requests)')
    .max(2 ** 40)
    .default(256 * 2 ** 20),
  INGEST_DURABILITY: z.enum(durabilityModes).default('none'),
  API_KEY_CACHE_TTL_MS: z.coerce.number().int().min(0).max(600_000).default(5000),
  STRIPE_SECRET_KEY: optionalString.pipe(
    z.string().regex(/^(sk|rk)_(test|live)_[A-Za-z0-9_]+$/, 'must be a Stripe secret or restricted key (sk_/rk_)').optional(),
  ),
  STRIPE_API_BASE: optionalString.pipe(z.url().optional()),
  STRIPE_SANDBOX_PORT: z.coerce.number().int().min(0).max(65535).default(12111),
  STRIPE_MAX_RPS: z.coerce.number().positive().max(10_000).optional(),
  STRIPE_MAX_IN_FLIGHT: z.coerce.number().int().min(1).max(256).default(16),
  STRIPE_TIMEOUT: duration('PT20S'),
  PUSH_INTERVAL: duration('PT10S').refine((ms) => cronFor(ms) !== null, {
    message: 'must divide a minute, an hour or a day evenly (PT5S, PT10S, PT1M, PT15M, PT1H...)',
  }),
  PUSH_LAG_THRESHOLD: duration('PT5M'),
  RECON_EPSILON: z.coerce.number().min(0).max(1).default(0.005),
  RECON_SETTLE: duration('PT5M'),
  RECON_INTERVAL: duration('PT15M').refine((ms) => cronFor(ms) !== null, {
    message: 'must divide a minute, an hour or a day evenly (PT5M, PT15M, PT1H...)',
  }),
  PUSH_SETTLE_AFTER: duration('PT23H'),
  PUSH_FAILED_RETRY: duration('PT1M'),
  SHUTDOWN_TIMEOUT: duration('PT10S').refine((ms) => ms >= 1000 && ms <= 600_000, { message: 'must be between PT1S and PT10M' }),
  DISK_CHECK_INTERVAL: duration('PT5S').refine((ms) => ms >= 100 && ms <= 300_000, { message: 'must be between PT0.1S and PT5M' }),
  DISK_MIN_FREE_BYTES: z.coerce.number().int().min(0).max(2 ** 50).default(2 ** 30),
  DISK_MIN_FREE_PERCENT: z.coerce.number().min(0).max(50).default(5),
  DISK_LOW_FREE_PERCENT: z.coerce.number().min(0).max(100).default(15),
  SQL_MAX_EXECUTION_TIME: duration('PT10S').refine((ms) => ms >= 100 && ms <= 3600_000, { message: 'must be between PT0.1S and PT1H' }),
  SQL_MAX_RESULT_ROWS: z.coerce.number().int().min(1).max(1_000_000_000).default(100_000),
  SQL_MAX_RESULT_BYTES: z.coerce.number().int().min(1024).max(2 ** 40).default(50 * 2 ** 20),
  SQL_MAX_MEMORY_USAGE: z.coerce.number().int().min(2 ** 20).max(2 ** 40).default(2 ** 30),
  /** Threads one analyst query may use: half the cores by default, so ingest and the API keep the rest. */
  SQL_MAX_THREADS: z.coerce.number().int().min(1).max(256).default(Math.max(1, Math.floor(os.availableParallelism() / 2))),
});

/** Every environment variable the service reads (deployment files are checked against this list). */
export const envVarNames: readonly string[] = Object.keys(envSchema.shape);

export type Config = {
  port: number;
  host: string;
  logLevel: z.infer<typeof envSchema>['LOG_LEVEL'];
  /** `auto`: pretty when stdout is a terminal, JSON otherwise. */
  logFormat: LogFormat;
  dataDir: string;
  backupRoot: string;
  adminKey: string | undefined;
  /** Bearer token `/metrics` requires; unset: `/metrics` is open (the local demo). */
  metricsToken: string | undefined;
  demoTenant: boolean;
  clickhouse:
    | { mode: 'embedded'; path: string }
    | {
        mode: 'server';
        url: string;
        username: string;
        password: string;
        database: string;
        analyst: { username: string; password: string } | null;
      };
  cluster: string | undefined;
  eventRetentionMs: number;
  /**
   * Raw events (and their replayed_events rows) older than `rawEventsMs` are dropped every `intervalMs`; null: kept
   * forever. `rawEvents` is the setting as it reads (`P400D`, `off`), for messages.
   */
  retention: { rawEvents: string; rawEventsMs: number | null; intervalMs: number };
  latenessWindowMs: number;
  /** Bounds of one GET /v1/usage/query: rows answered and windows asked for (beyond them, a 400). */
  usageQuery: { maxRows: number; maxWindows: number };
  ingestMaxBatchRows: number;
  ingestMaxWaitMs: number;
  ingestKeys: { filter: boolean; recentKeys: number; snapshotIntervalMs: number };
  /** Bounds on ingest rows and their estimated bytes queued or being committed; past them ingest answers 429. */
  ingestQueueMaxRows: number;
  ingestQueueMaxBytes: number;
  /** `fsync`: an acknowledged ingest survives a power loss (every table it writes fsyncs its parts). */
  ingestDurability: IngestDurability;
  apiKeyCacheTtlMs: number;
  stripe: {
    secretKey: string | undefined;
    apiBase: string | undefined;
    sandboxPort: number;
    maxRps: number;
    maxInFlight: number;
    timeoutMs: number;
  };
  recon: { epsilon: number; settleMs: number; intervalMs: number };
  replay: { maxWindowMs: number; syncMaxMs: number; chunkMs: number };
  push: { intervalMs: number; lagThresholdMs: number; settleAfterMs: number; failedRetryMs: number };
  /** Longest a stop (SIGTERM) waits for work in flight; a push still waiting on Stripe is abandoned, its intent pending. */
  shutdownTimeoutMs: number;
  /**
   * Free space on the data volume, sampled every `checkIntervalMs`: ingest and replay apply are refused below the
   * smaller of `minFreeBytes` and `minFreePercent` of the volume; readiness degrades below `lowFreePercent`.
   */
  disk: { checkIntervalMs: number; minFreeBytes: number; minFreePercent: number; lowFreePercent: number };
  /** Limits of analyst SQL (`POST /v1/sql`), enforced by the engine on the analyst connection. */
  sql: { maxExecutionMs: number; maxResultRows: number; maxResultBytes: number; maxMemoryBytes: number; maxThreads: number };
};

export class ConfigError extends Error {}

const defaultRawEventRetentionMs = 400 * 86_400_000;

/**
 * RAW_EVENT_RETENTION in ms (null: off). It may not be shorter than EVENT_RETENTION: ingest would accept events
 * the retention job drops at its next run, in windows replay already refuses.
 */
function rawEventRetention(value: string | undefined, eventRetentionMs: number, eventRetentionText: string): number | null {
  if (value === 'off') return null;
  if (value === undefined) return Math.max(defaultRawEventRetentionMs, eventRetentionMs);
  const ms = parseDuration(value)!;
  if (ms < eventRetentionMs) {
    throw new ConfigError(
      `invalid configuration:\n  RAW_EVENT_RETENTION: ${value} is shorter than EVENT_RETENTION (${eventRetentionText}): ` +
        'raw events must be kept at least as long as ingest accepts them; lengthen RAW_EVENT_RETENTION or shorten EVENT_RETENTION',
    );
  }
  return ms;
}

/** Reads and validates the environment; a bad value fails with a message naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  if (e.DISK_LOW_FREE_PERCENT < e.DISK_MIN_FREE_PERCENT) {
    throw new ConfigError('invalid configuration:\n  DISK_LOW_FREE_PERCENT: must be at least DISK_MIN_FREE_PERCENT (readiness degrades before ingest is refused)');
  }
  const eventRetention = env.EVENT_RETENTION || 'P90D';
  const rawEventsMs = rawEventRetention(e.RAW_EVENT_RETENTION, e.EVENT_RETENTION, eventRetention);
  const dataDir = path.resolve(e.STRIPEMETER_DATA_DIR);
  return {
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    dataDir,
    backupRoot: path.resolve(e.BACKUP_ROOT),
    adminKey: e.STRIPEMETER_ADMIN_KEY,
    metricsToken: e.METRICS_TOKEN,
    demoTenant: e.STRIPEMETER_DEMO_TENANT,
    clickhouse: e.CLICKHOUSE_URL
      ? {
          mode: 'server',
          url: e.CLICKHOUSE_URL,
          username: e.CLICKHOUSE_USER,
          password: e.CLICKHOUSE_PASSWORD,
          database: e.CLICKHOUSE_DATABASE,
          analyst: e.CLICKHOUSE_ANALYST_USER ? { username: e.CLICKHOUSE_ANALYST_USER, password: e.CLICKHOUSE_ANALYST_PASSWORD } : null,
        }
      : { mode: 'embedded', path: path.join(dataDir, 'clickhouse') },
    cluster: e.CLICKHOUSE_CLUSTER,
    eventRetentionMs: e.EVENT_RETENTION,
    retention: {
      rawEvents: e.RAW_EVENT_RETENTION ?? (rawEventsMs === e.EVENT_RETENTION ? eventRetention : 'P400D'),
      rawEventsMs,
      intervalMs: e.RETENTION_INTERVAL,
    },
    latenessWindowMs: e.LATENESS_WINDOW,
    usageQuery: { maxRows: e.USAGE_QUERY_MAX_ROWS, maxWindows: e.USAGE_QUERY_MAX_WINDOWS },
    ingestMaxBatchRows: e.INGEST_MAX_BATCH_ROWS,
    ingestMaxWaitMs: e.INGEST_MAX_WAIT_MS,
    ingestKeys: { filter: e.INGEST_KEY_FILTER === 'on', recentKeys: e.INGEST_RECENT_KEYS, snapshotIntervalMs: e.INGEST_KEY_SNAPSHOT_INTERVAL },
    ingestQueueMaxRows: e.INGEST_QUEUE_MAX_ROWS,
    ingestQueueMaxBytes: e.INGEST_QUEUE_MAX_BYTES,
    ingestDurability: e.INGEST_DURABILITY,
    apiKeyCacheTtlMs: e.API_KEY_CACHE_TTL_MS,
    stripe: {
      secretKey: e.STRIPE_SECRET_KEY,
      apiBase: e.STRIPE_API_BASE,
      sandboxPort: e.STRIPE_SANDBOX_PORT,
      // Stripe allows 1,000 meter event calls/s in live mode and about 25 operations/s in test mode.
      maxRps: e.STRIPE_MAX_RPS ?? { live: 500, test: 20, sandbox: 200 }[keyMode(e.STRIPE_SECRET_KEY)],
      maxInFlight: e.STRIPE_MAX_IN_FLIGHT,
      timeoutMs: e.STRIPE_TIMEOUT,
    },
    recon: { epsilon: e.RECON_EPSILON, settleMs: e.RECON_SETTLE, intervalMs: e.RECON_INTERVAL },
    replay: { maxWindowMs: e.REPLAY_MAX_WINDOW, syncMaxMs: e.REPLAY_SYNC_MAX, chunkMs: e.REPLAY_CHUNK },
    push: {
      intervalMs: e.PUSH_INTERVAL,
      lagThresholdMs: e.PUSH_LAG_THRESHOLD,
      settleAfterMs: e.PUSH_SETTLE_AFTER,
      failedRetryMs: e.PUSH_FAILED_RETRY,
    },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT,
    disk: {
      checkIntervalMs: e.DISK_CHECK_INTERVAL,
      minFreeBytes: e.DISK_MIN_FREE_BYTES,
      minFreePercent: e.DISK_MIN_FREE_PERCENT,
      lowFreePercent: e.DISK_LOW_FREE_PERCENT,
    },
    sql: {
      maxExecutionMs: e.SQL_MAX_EXECUTION_TIME,
      maxResultRows: e.SQL_MAX_RESULT_ROWS,
      maxResultBytes: e.SQL_MAX_RESULT_BYTES,
      maxMemoryBytes: e.SQL_MAX_MEMORY_USAGE,
      maxThreads: e.SQL_MAX_THREADS,
    },
  };
}
