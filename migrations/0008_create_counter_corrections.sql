-- Corrections to the counters written by replay: signed (quantity, events) per (hour, period) cell, with the
-- replay run that wrote them. One INSERT feeds both counters through their materialized views, so hourly and
-- period counters never disagree, and the table is the audit trail of every counter change not made by ingest.
CREATE TABLE IF NOT EXISTS {{local:counter_corrections}} {{on_cluster}} (
  replay_id String,
  tenant_id LowCardinality(String),
  metric LowCardinality(String),
  customer_ref String,
  hour DateTime('UTC'),
  period LowCardinality(String),
  quantity Decimal(38, 6),
  events Int64,
  created_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = MergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, metric, customer_ref, hour)
SETTINGS non_replicated_deduplication_window = 1000;

{{distributed:counter_corrections:cityHash64(tenant_id)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_hourly_counters_mv_corrections {{on_cluster}}
TO {{local:usage_hourly_counters}} AS
SELECT tenant_id, metric, customer_ref, hour, period, quantity, events
FROM {{local:counter_corrections}};

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_period_counters_mv_corrections {{on_cluster}}
TO {{local:usage_period_counters}} AS
SELECT tenant_id, metric, customer_ref, period, quantity, events
FROM {{local:counter_corrections}};
