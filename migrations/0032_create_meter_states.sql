-- Meter states per UTC hour, per local day of the tenant's zone and per billing period, by customer and dimension
-- values, for metrics with a meter
-- definition (events whose `aggregation` is set; others are counted by the usage counters alone). One table holds
-- every aggregation: sums and event counts add (SimpleAggregateFunction), the non-additive ones keep exact states
-- that merge: the set of distinct values (uniqExact: a 128-bit hash per value, no approximation), the maximum, and
-- the latest quantity by (ts, idempotency key). Merging states is idempotent for those three, so replay may add a
-- state twice without changing a value; sums and counts are corrected by signed differences instead. The states of
-- the aggregations an event's meter does not have stay empty (-If). Measurements in docs/meters.md.
-- Ordered by time before customer: the grouped usage query reads a (tenant, metric, time range). The hourly rows also
-- carry their local day: in a zone with a half-hour offset a UTC hour holds the end of one day and the start of the
-- next, and replay corrects hourly and daily states from the same (hour, day) cells.
CREATE TABLE IF NOT EXISTS {{local:meter_hourly_states}} {{on_cluster}} (
  tenant_id LowCardinality(String),
  metric LowCardinality(String),
  hour DateTime('UTC'),
  customer_ref String,
  dimensions Map(LowCardinality(String), String),
  day DateTime('UTC'),
  period LowCardinality(String),
  quantity SimpleAggregateFunction(sum, Decimal(38, 6)),
  events SimpleAggregateFunction(sum, Int64),
  distinct_values AggregateFunction(uniqExact, String),
  maximum AggregateFunction(max, Decimal(38, 6)),
  latest AggregateFunction(argMax, Decimal(38, 6), Tuple(DateTime64(3, 'UTC'), String))
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, metric, hour, customer_ref, dimensions, day, period)
SETTINGS non_replicated_deduplication_window = 1000;

{{distributed:meter_hourly_states:cityHash64(tenant_id)}};

-- Daily states: what GET /v1/usage/query reads for days in the tenant's zone and for billing periods (a period is whole
-- local days), 24 times fewer rows than the hourly states (docs/meters.md, "Measurements").
CREATE TABLE IF NOT EXISTS {{local:meter_daily_states}} {{on_cluster}} (
  tenant_id LowCardinality(String),
  metric LowCardinality(String),
  day DateTime('UTC'),
  customer_ref String,
  dimensions Map(LowCardinality(String), String),
  period LowCardinality(String),
  quantity SimpleAggregateFunction(sum, Decimal(38, 6)),
  events SimpleAggregateFunction(sum, Int64),
  distinct_values AggregateFunction(uniqExact, String),
  maximum AggregateFunction(max, Decimal(38, 6)),
  latest AggregateFunction(argMax, Decimal(38, 6), Tuple(DateTime64(3, 'UTC'), String))
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, metric, day, customer_ref, dimensions, period)
SETTINGS non_replicated_deduplication_window = 1000;

{{distributed:meter_daily_states:cityHash64(tenant_id)}};

CREATE TABLE IF NOT EXISTS {{local:meter_period_states}} {{on_cluster}} (
  tenant_id LowCardinality(String),
  metric LowCardinality(String),
  period LowCardinality(String),
  customer_ref String,
  dimensions Map(LowCardinality(String), String),
  quantity SimpleAggregateFunction(sum, Decimal(38, 6)),
  events SimpleAggregateFunction(sum, Int64),
  distinct_values AggregateFunction(uniqExact, String),
  maximum AggregateFunction(max, Decimal(38, 6)),
  latest AggregateFunction(argMax, Decimal(38, 6), Tuple(DateTime64(3, 'UTC'), String))
) ENGINE = AggregatingMergeTree
ORDER BY (tenant_id, metric, period, customer_ref, dimensions)
SETTINGS non_replicated_deduplication_window = 1000;

{{distributed:meter_period_states:cityHash64(tenant_id)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS meter_hourly_states_mv_events {{on_cluster}}
TO {{local:meter_hourly_states}} AS
SELECT
  tenant_id,
  metric,
  toStartOfHour(ts) AS hour,
  customer_ref,
  dimensions,
  day,
  period,
  sum(amount) AS quantity,
  toInt64(count()) AS events,
  uniqExactStateIf(unique_value, aggregation = 'unique_count') AS distinct_values,
  maxStateIf(amount, aggregation = 'max') AS maximum,
  argMaxStateIf(amount, (ts, idempotency_key), aggregation = 'latest') AS latest
-- The quantity under another name: the sum's alias `quantity` would otherwise stand for it in the states.
FROM (SELECT *, quantity AS amount FROM {{local:events}} WHERE beyond_window = 0 AND aggregation != '')
GROUP BY tenant_id, metric, hour, customer_ref, dimensions, day, period;

CREATE MATERIALIZED VIEW IF NOT EXISTS meter_period_states_mv_events {{on_cluster}}
TO {{local:meter_period_states}} AS
SELECT
  tenant_id,
  metric,
  period,
  customer_ref,
  dimensions,
  sum(amount) AS quantity,
  toInt64(count()) AS events,
  uniqExactStateIf(unique_value, aggregation = 'unique_count') AS distinct_values,
  maxStateIf(amount, aggregation = 'max') AS maximum,
  argMaxStateIf(amount, (ts, idempotency_key), aggregation = 'latest') AS latest
-- The quantity under another name: the sum's alias `quantity` would otherwise stand for it in the states.
FROM (SELECT *, quantity AS amount FROM {{local:events}} WHERE beyond_window = 0 AND aggregation != '')
GROUP BY tenant_id, metric, period, customer_ref, dimensions;

CREATE MATERIALIZED VIEW IF NOT EXISTS meter_daily_states_mv_events {{on_cluster}}
TO {{local:meter_daily_states}} AS
SELECT
  tenant_id,
  metric,
  day,
  customer_ref,
  dimensions,
  period,
  sum(amount) AS quantity,
  toInt64(count()) AS events,
  uniqExactStateIf(unique_value, aggregation = 'unique_count') AS distinct_values,
  maxStateIf(amount, aggregation = 'max') AS maximum,
  argMaxStateIf(amount, (ts, idempotency_key), aggregation = 'latest') AS latest
-- The quantity under another name: the sum's alias `quantity` would otherwise stand for it in the states.
FROM (SELECT *, quantity AS amount FROM {{local:events}} WHERE beyond_window = 0 AND aggregation != '')
GROUP BY tenant_id, metric, day, customer_ref, dimensions, period;

-- Replay's corrections to the meter states (sql/meters/write_corrections.sql), like counter_corrections for the
-- usage counters: one INSERT feeds the three state tables through the views below, and the table is the audit trail.
CREATE TABLE IF NOT EXISTS {{local:meter_corrections}} {{on_cluster}} (
  replay_id String,
  tenant_id LowCardinality(String),
  metric LowCardinality(String),
  hour DateTime('UTC'),
  customer_ref String,
  dimensions Map(LowCardinality(String), String),
  day DateTime('UTC'),
  period LowCardinality(String),
  quantity Decimal(38, 6),
  events Int64,
  distinct_values AggregateFunction(uniqExact, String),
  maximum AggregateFunction(max, Decimal(38, 6)),
  latest AggregateFunction(argMax, Decimal(38, 6), Tuple(DateTime64(3, 'UTC'), String)),
  created_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = MergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, metric, hour, customer_ref)
SETTINGS non_replicated_deduplication_window = 1000;

{{distributed:meter_corrections:cityHash64(tenant_id)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS meter_hourly_states_mv_corrections {{on_cluster}}
TO {{local:meter_hourly_states}} AS
SELECT tenant_id, metric, hour, customer_ref, dimensions, day, period, quantity, events, distinct_values, maximum, latest
FROM {{local:meter_corrections}};

CREATE MATERIALIZED VIEW IF NOT EXISTS meter_daily_states_mv_corrections {{on_cluster}}
TO {{local:meter_daily_states}} AS
SELECT tenant_id, metric, day, customer_ref, dimensions, period, quantity, events, distinct_values, maximum, latest
FROM {{local:meter_corrections}};

CREATE MATERIALIZED VIEW IF NOT EXISTS meter_period_states_mv_corrections {{on_cluster}}
TO {{local:meter_period_states}} AS
SELECT tenant_id, metric, period, customer_ref, dimensions, quantity, events, distinct_values, maximum, latest
FROM {{local:meter_corrections}};
