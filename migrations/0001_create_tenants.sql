-- Tenants: the unit of isolation. The time zone decides billing period boundaries (calendar months in that zone).
-- ReplacingMergeTree keeps the newest row per id, so an update is an insert with a later updated_at.
CREATE TABLE IF NOT EXISTS tenants {{on_cluster}} (
  id String,
  timezone LowCardinality(String) DEFAULT 'UTC',
  created_at DateTime64(3, 'UTC') DEFAULT now64(3),
  updated_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree(updated_at)
ORDER BY id;
