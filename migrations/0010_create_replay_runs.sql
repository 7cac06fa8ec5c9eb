-- Every replay: what was asked, how far it got, and what it found or changed. A new row version per state change.
CREATE TABLE IF NOT EXISTS replay_runs {{on_cluster}} (
  id String,
  tenant_id LowCardinality(String),
  mode LowCardinality(String),
  request String,
  status LowCardinality(String),
  progress Float64 DEFAULT 0,
  result String DEFAULT '',
  error String DEFAULT '',
  created_by String DEFAULT '',
  started_at DateTime64(3, 'UTC') DEFAULT now64(3),
  finished_at Nullable(DateTime64(3, 'UTC')),
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant_id, id);
