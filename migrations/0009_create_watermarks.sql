-- Per counter (tenant, metric, customer): the latest event time counted. An event before it is late; more than
-- LATENESS_WINDOW before it, it is stored flagged and not counted. Kept in memory by the ingest writer and
-- written here after each group commit, so a restart knows it.
CREATE TABLE IF NOT EXISTS watermarks {{on_cluster}} (
  tenant_id LowCardinality(String),
  metric LowCardinality(String),
  customer_ref String,
  watermark DateTime64(3, 'UTC'),
  updated_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree(watermark)
ORDER BY (tenant_id, metric, customer_ref);
