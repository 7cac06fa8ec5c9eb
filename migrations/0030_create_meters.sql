-- Meter definitions: how a (tenant, metric) aggregates its events and which meta keys group it (docs/meters.md).
-- A metric without a row is a sum with no dimensions. Rows are versioned like price_mappings: an update or delete is
-- a new row with a higher version, and readers take the newest (FINAL).
CREATE TABLE IF NOT EXISTS meters {{on_cluster}} (
  tenant_id LowCardinality(String),
  metric LowCardinality(String),
  -- sum | count | unique_count | max | latest
  aggregation LowCardinality(String),
  -- The meta key whose distinct values a unique_count counts; '' for the other aggregations.
  unique_by String DEFAULT '',
  -- Meta keys usage is grouped by, in the order they were defined.
  dimensions Array(String),
  deleted UInt8 DEFAULT 0,
  created_at DateTime64(3, 'UTC') DEFAULT now64(3),
  updated_at DateTime64(3, 'UTC') DEFAULT now64(3),
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant_id, metric);
