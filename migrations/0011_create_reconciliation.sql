-- What Stripe reported per item at each reconciliation run (meter event summaries over the billing period).
CREATE TABLE IF NOT EXISTS stripe_reported_totals {{on_cluster}} (
  run_id String,
  tenant_id LowCardinality(String),
  metric LowCardinality(String),
  customer_ref String,
  period LowCardinality(String),
  meter_id String,
  stripe_customer_id String,
  stripe_total Decimal(38, 6),
  read_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = MergeTree
PARTITION BY toYYYYMM(read_at)
ORDER BY (tenant_id, run_id, metric, customer_ref, period);

-- One row version per run state; result holds the counts by status.
CREATE TABLE IF NOT EXISTS reconciliation_runs {{on_cluster}} (
  id String,
  tenant_id LowCardinality(String),
  metric String DEFAULT '',
  trigger LowCardinality(String),
  status LowCardinality(String),
  periods Array(String),
  items UInt32 DEFAULT 0,
  counts String DEFAULT '',
  error String DEFAULT '',
  started_at DateTime64(3, 'UTC') DEFAULT now64(3),
  finished_at Nullable(DateTime64(3, 'UTC')),
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant_id, id);

-- The history of drift: every item of every run, as compared, with its status and likely causes.
CREATE TABLE IF NOT EXISTS reconciliation_reports {{on_cluster}} (
  run_id String,
  tenant_id LowCardinality(String),
  metric LowCardinality(String),
  customer_ref String,
  stripe_customer_id String,
  period LowCardinality(String),
  local_total Decimal(38, 6),
  stripe_total Nullable(Decimal(38, 6)),
  pushed_total Int64,
  pending Int64,
  diff_abs Nullable(Decimal(38, 6)),
  diff_pct Nullable(Float64),
  status LowCardinality(String),
  late_events UInt64,
  late_quantity Decimal(38, 6),
  causes String,
  adjustment_id String DEFAULT '',
  created_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = MergeTree
PARTITION BY toYYYYMM(created_at)
ORDER BY (tenant_id, created_at, run_id, metric, customer_ref, period);
