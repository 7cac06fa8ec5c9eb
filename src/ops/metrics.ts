import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type Metrics = ReturnType<typeof createMetrics>;

/** One registry per service instance, so tests can run several instances in one process without clashes. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics = {
    registry,
    httpRequests: new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests by method, matched route template and status code',
      labelNames: ['method', 'route', 'status_code'] as const,
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by method, matched route template and status code',
      labelNames: ['method', 'route', 'status_code'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    eventsIngested: new Counter({
      name: 'events_ingested_total',
      help: 'Events received by ingest, by tenant and result (accepted, duplicate, rejected)',
      labelNames: ['tenant', 'result'] as const,
      registers: [registry],
    }),
    ingestBatchRows: new Histogram({
      name: 'ingest_commit_rows',
      help: 'Rows per group-committed INSERT into events',
      buckets: [1, 10, 100, 1000, 2500, 5000, 10000, 20000, 50000],
      registers: [registry],
    }),
    ingestCommitDuration: new Histogram({
      name: 'ingest_commit_duration_seconds',
      help: 'Time for one group commit: key lookup plus INSERT',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    ingestBackpressureRejections: new Counter({
      name: 'ingest_backpressure_rejections_total',
      help: 'Ingest requests refused with 429 ingest_overloaded because the queue was full, by bound reached (rows, bytes)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    ingestBackpressureRejectedEvents: new Counter({
      name: 'ingest_backpressure_rejected_events_total',
      help: 'Valid events of the requests refused with 429 ingest_overloaded, by bound reached (rows, bytes)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    ingestQueueRows: new Gauge({
      name: 'ingest_queue_rows',
      help: 'Rows of ingest requests queued or being committed (not yet answered); bounded by INGEST_QUEUE_MAX_ROWS',
      registers: [registry],
    }),
    ingestQueueBytes: new Gauge({
      name: 'ingest_queue_bytes',
      help: 'Estimated bytes (INSERT text) of ingest rows queued or being committed; bounded by INGEST_QUEUE_MAX_BYTES',
      registers: [registry],
    }),
    ingestRefused: new Counter({
      name: 'ingest_refused_total',
      help: 'Ingest requests refused whole before anything of them was stored, by reason: disk (507 insufficient_storage, free space below the floor)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    volumeFreeBytes: new Gauge({
      name: 'storage_volume_free_bytes',
      help: "Free bytes on the data volume (embedded: the data directory's file system; server: the fullest ClickHouse disk of the database), sampled every DISK_CHECK_INTERVAL",
      registers: [registry],
    }),
    volumeSizeBytes: new Gauge({
      name: 'storage_volume_size_bytes',
      help: 'Size in bytes of the data volume storage_volume_free_bytes describes',
      registers: [registry],
    }),
    volumeMinFreeBytes: new Gauge({
      name: 'storage_volume_min_free_bytes',
      help: 'Free bytes below which ingest and replay apply are refused with 507: DISK_MIN_FREE_PERCENT of the volume, at most DISK_MIN_FREE_BYTES',
      registers: [registry],
    }),
    tableBytes: new Gauge({
      name: 'storage_table_bytes',
      help: "Bytes on disk of each table's active parts (system.parts), sampled every DISK_CHECK_INTERVAL",
      labelNames: ['table'] as const,
      registers: [registry],
    }),
    reaggregations: new Counter({
      name: 'reaggregations_total',
      help: 'Counter re-aggregations by reason: late_event (an event before its watermark, inside the lateness window), replay',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    lateEventsBeyondWindow: new Counter({
      name: 'late_events_beyond_window_total',
      help: 'Events stored but not counted because they arrived later than LATENESS_WINDOW behind their counter watermark',
      labelNames: ['tenant'] as const,
      registers: [registry],
    }),
    reconDiffPct: new Gauge({
      name: 'reconciliation_diff_pct',
      help: 'Drift |local - stripe| / max(|local|, 1) as a fraction (0.005 = 0.5%), per item and period, set by each reconciliation run',
      labelNames: ['tenant', 'metric', 'customer', 'period'] as const,
      registers: [registry],
    }),
    reconDiffAbs: new Gauge({
      name: 'reconciliation_diff_abs',
      help: 'Drift local - stripe in units, per item and period, set by each reconciliation run',
      labelNames: ['tenant', 'metric', 'customer', 'period'] as const,
      registers: [registry],
    }),
    reconRuns: new Counter({
      name: 'recon_runs_total',
      help: 'Reconciliation runs by result (success, error)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    reconDuration: new Histogram({
      name: 'recon_duration_seconds',
      help: 'Duration of one reconciliation run (Stripe reads included)',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers: [registry],
    }),
    reconItems: new Gauge({
      name: 'recon_items',
      help: 'Items by status at the latest run of each tenant: ok, aligned, drift, unmapped, unpushable',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    stripePush: new Counter({
      name: 'stripe_push_total',
      help: 'Meter event deliveries by result: acked, failed (refused), retried, rate_limited, retry_later, settled',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    stripePushUnits: new Counter({
      name: 'stripe_push_units_total',
      help: 'Whole units acknowledged by Stripe (absolute value: corrections count as units moved)',
      registers: [registry],
    }),
    stripeApiErrors: new Counter({
      name: 'stripe_api_errors_total',
      help: 'Failed Stripe calls by kind (rate_limited, transient, auth, permanent) and HTTP status (0: no response)',
      labelNames: ['type', 'status'] as const,
      registers: [registry],
    }),
    pushLag: new Gauge({
      name: 'stripe_push_lag_seconds',
      help: 'Age of the oldest mapped usage not yet acknowledged by Stripe',
      registers: [registry],
    }),
    pushCycleDuration: new Histogram({
      name: 'push_cycle_duration_seconds',
      help: 'Duration of one push cycle',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    pushItems: new Gauge({
      name: 'push_items',
      help: 'Items with usage to push at the last cycle, by status: pending, unmapped, unpushable, error (ok: none due)',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    pushUnpushableUnits: new Gauge({
      name: 'push_unpushable_units',
      help: 'Whole units in periods Stripe no longer accepts (older than 35 days): need a manual invoice correction',
      registers: [registry],
    }),
    pushUnmappedUnits: new Gauge({
      name: 'push_unmapped_units',
      help: 'Whole units of usage without an active meter or customer mapping',
      registers: [registry],
    }),
    dedupeKeys: new Counter({
      name: 'ingest_dedupe_keys_total',
      help: 'Keys checked by ingest dedupe, by what answered: filter (ruled out in memory), recent (committed recently), lookup (asked the engine)',
      labelNames: ['answer'] as const,
      registers: [registry],
    }),
    keyFilterKeys: new Gauge({
      name: 'ingest_key_filter_keys',
      help: 'Idempotency keys held by the in-memory key filters',
      registers: [registry],
    }),
    keyFilterBytes: new Gauge({
      name: 'ingest_key_filter_bytes',
      help: 'Memory of the in-memory key filters, in bytes',
      registers: [registry],
    }),
    retentionRows: new Counter({
      name: 'retention_rows_dropped_total',
      help: 'Raw rows the retention job removed, by table (events, replayed_events) and how: partition (a whole month dropped) or delete (rows of the month the cutoff falls in)',
      labelNames: ['table', 'how'] as const,
      registers: [registry],
    }),
    retentionPartitions: new Counter({
      name: 'retention_partitions_dropped_total',
      help: 'Monthly partitions the retention job dropped, by table',
      labelNames: ['table'] as const,
      registers: [registry],
    }),
    retentionLastRun: new Gauge({
      name: 'retention_last_run_timestamp_seconds',
      help: 'When the retention job last finished a run (Unix time)',
      registers: [registry],
    }),
    retentionHorizon: new Gauge({
      name: 'retention_horizon_timestamp_seconds',
      help: 'The recorded retention cutoff (Unix time): raw events before it may be gone, and replay refuses windows starting before it',
      registers: [registry],
    }),
  };
  // Series that alerts watch with increase() exist from the start, at 0, so their first increment is seen.
  for (const result of ['success', 'error'] as const) metrics.reconRuns.inc({ result }, 0);
  metrics.ingestRefused.inc({ reason: 'disk' }, 0);
  for (const reason of ['rows', 'bytes'] as const) {
    metrics.ingestBackpressureRejections.inc({ reason }, 0);
    metrics.ingestBackpressureRejectedEvents.inc({ reason }, 0);
  }
  return metrics;
}
