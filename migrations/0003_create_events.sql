-- Raw usage events. The sorting key is the dedupe identity (tenant_id, idempotency_key), so ReplacingMergeTree
-- collapses any duplicate that ever slipped past ingest's own dedupe (same ts, so same partition). Ingest never
-- inserts a known key: the counters' materialized views would count it again before a merge could remove it.
-- Time-range scans prune by monthly partition and the ts/metric skip indexes; usage reads use counters instead.
CREATE TABLE IF NOT EXISTS {{local:events}} {{on_cluster}} (
  tenant_id LowCardinality(String),
  idempotency_key String,
  metric LowCardinality(String),
  customer_ref String,
  resource_id String DEFAULT '',
  -- Exact decimals: up to 32 integer digits and 6 fractional digits.
  quantity Decimal(38, 6),
  ts DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  -- Billing period (YYYY-MM in the tenant's time zone at ingest), so period counters need no zone math in SQL.
  period LowCardinality(String),
  meta Map(String, String) CODEC(ZSTD(1)),
  source LowCardinality(String) DEFAULT '',
  -- First 16 hex digits of SHA-256 over the event's content: the same key with another payload is a conflict.
  payload_hash FixedString(16),
  -- 0: counted. 1: arrived later than the lateness window behind its counter's watermark: stored, not counted.
  -- 2: such an event since counted by a replay (its counter correction is in counter_corrections).
  beyond_window UInt8 DEFAULT 0,
  ingested_at DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(Delta, ZSTD(1)),
  INDEX idx_ts ts TYPE minmax GRANULARITY 1,
  INDEX idx_metric metric TYPE set(256) GRANULARITY 4,
  INDEX idx_customer customer_ref TYPE bloom_filter(0.01) GRANULARITY 4
) ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (tenant_id, idempotency_key)
-- Lets a retried INSERT carrying the same insert_deduplication_token be dropped on a non-replicated table.
SETTINGS non_replicated_deduplication_window = 1000;

{{distributed:events:cityHash64(tenant_id)}};
