-- Counters per (tenant, metric, customer): per UTC hour and per billing period. SummingMergeTree adds rows
-- with the same key on merge, so queries still aggregate with sum(); the materialized views add every inserted
-- event once, which is why ingest guarantees a key is never inserted twice. The hourly counters also carry the
-- billing period: in a zone with a half-hour offset one UTC hour can hold the end of one period and the start of
-- the next, and replay recomputes both counters from the same (hour, period) cells.
CREATE TABLE IF NOT EXISTS {{local:usage_hourly_counters}} {{on_cluster}} (
  tenant_id LowCardinality(String),
  metric LowCardinality(String),
  customer_ref String,
  hour DateTime('UTC'),
  period LowCardinality(String),
  quantity Decimal(38, 6),
  events Int64
) ENGINE = SummingMergeTree((quantity, events))
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, metric, customer_ref, hour, period);

{{distributed:usage_hourly_counters:cityHash64(tenant_id)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_hourly_counters_mv_events {{on_cluster}}
TO {{local:usage_hourly_counters}} AS
SELECT
  tenant_id,
  metric,
  customer_ref,
  toStartOfHour(ts) AS hour,
  period,
  sum(quantity) AS quantity,
  toInt64(count()) AS events
FROM {{local:events}}
WHERE beyond_window = 0
GROUP BY tenant_id, metric, customer_ref, hour, period;

CREATE TABLE IF NOT EXISTS {{local:usage_period_counters}} {{on_cluster}} (
  tenant_id LowCardinality(String),
  metric LowCardinality(String),
  customer_ref String,
  period LowCardinality(String),
  quantity Decimal(38, 6),
  events Int64
) ENGINE = SummingMergeTree((quantity, events))
ORDER BY (tenant_id, metric, period, customer_ref);

{{distributed:usage_period_counters:cityHash64(tenant_id)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_period_counters_mv_events {{on_cluster}}
TO {{local:usage_period_counters}} AS
SELECT
  tenant_id,
  metric,
  customer_ref,
  period,
  sum(quantity) AS quantity,
  toInt64(count()) AS events
FROM {{local:events}}
WHERE beyond_window = 0
GROUP BY tenant_id, metric, customer_ref, period;
