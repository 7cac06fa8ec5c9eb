-- What Stripe has acknowledged per (tenant, metric, customer, period): whole units, and the sequence number of the
-- last acknowledged push. Moved only after Stripe acknowledged the meter event that brings it to pushed_total.
CREATE TABLE IF NOT EXISTS pushed_totals {{on_cluster}} (
  tenant_id LowCardinality(String),
  metric LowCardinality(String),
  customer_ref String,
  period LowCardinality(String),
  pushed_total Int64,
  seq UInt32,
  last_identifier String,
  updated_at DateTime64(3, 'UTC') DEFAULT now64(3),
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant_id, metric, customer_ref, period);

-- Every push intent and its fate. An intent is written (pending) before Stripe is called, with a deterministic
-- identifier that every retry reuses, so Stripe's identifier dedupe makes the push exactly-once.
-- status: pending (sent or about to be; outcome unknown), acked, failed (Stripe refused it; nothing recorded),
-- superseded (a failed intent replaced by a new one), expired (pending past Stripe's dedupe window and shown by
-- Stripe's summaries not to have landed), stuck (pending past the window and Stripe's total matches neither side).
CREATE TABLE IF NOT EXISTS push_log {{on_cluster}} (
  identifier String,
  tenant_id LowCardinality(String),
  metric LowCardinality(String),
  customer_ref String,
  period LowCardinality(String),
  seq UInt32,
  generation UInt16 DEFAULT 0,
  meter_id String,
  event_name String,
  stripe_customer_id String,
  base_total Int64,
  target_total Int64,
  value Int64,
  event_ts DateTime('UTC'),
  status LowCardinality(String),
  attempts UInt32 DEFAULT 0,
  last_error String DEFAULT '',
  last_error_code String DEFAULT '',
  last_http_status UInt16 DEFAULT 0,
  next_attempt_at DateTime64(3, 'UTC') DEFAULT now64(3),
  created_at DateTime64(3, 'UTC') DEFAULT now64(3),
  updated_at DateTime64(3, 'UTC') DEFAULT now64(3),
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant_id, metric, customer_ref, period, identifier);
