-- The last run of each background job in each workers process: readiness of an `api` process reads it to tell
-- whether anyone is pushing to Stripe and reconciling.
CREATE TABLE IF NOT EXISTS worker_heartbeats {{on_cluster}} (
  job LowCardinality(String),
  worker String,
  last_run_at DateTime64(3, 'UTC'),
  ok UInt8,
  detail String DEFAULT ''
) ENGINE = ReplacingMergeTree(last_run_at)
ORDER BY (job, worker);
