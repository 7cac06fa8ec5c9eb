-- replay_window_cells(tenantId, metrics, customerRefs, start, end): a parameterized view, the replay diff of one
-- tenant and an hour-aligned window. Per (metric, customer, hour, period) cell: what the hourly counters hold now
-- (before) against what the stored events say (after: one row per idempotency key, events stored beyond the lateness
-- window included), and the late events not yet counted among them. sql/replay/items.sql reports it and
-- sql/replay/write_corrections.sql applies it, both inside the engine: the cells never travel to the service.
-- Both reads filter on (tenant_id, time) and name only columns of the time-ordered projections (migration 0014), so
-- they read the window's granules, not the month's.
-- Part of migration 0016_create_replay_window_cells: never edit this file, add a new one and a migration that
-- includes it.
CREATE OR REPLACE VIEW replay_window_cells {{on_cluster}} AS
WITH
  -- What `events FINAL` holds for the window, de-duplicated here because FINAL cannot read a projection: one row per
  -- key. Versions of a key differ in nothing read here (ingest refuses the same key with another payload as a
  -- conflict; a late event's flag is 1, or 2 if replayed before migration 0015, both "beyond"), so any one will do
  -- and none is sorted for. Every version of a key has the same ts, so the window keeps all of them or none.
  -- `late`: stored beyond the lateness window and not counted by a replay yet (replayed_events).
  stored AS (
    SELECT metric, customer_ref, ts, period, quantity,
      beyond_window != 0 AND idempotency_key NOT IN (
        SELECT idempotency_key
        FROM replayed_events
        WHERE tenant_id = {tenantId:String} AND ts >= {start:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')}
      ) AS late
    FROM events
    WHERE tenant_id = {tenantId:String}
      AND ts >= {start:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')}
      AND metric IN {metrics:Array(String)}
      AND (empty({customerRefs:Array(String)}) OR has({customerRefs:Array(String)}, customer_ref))
    LIMIT 1 BY idempotency_key
  )
-- Stored events and counter rows side by side, summed per cell (cheaper than joining two aggregations).
SELECT
  cell_metric AS metric,
  cell_customer AS customer_ref,
  cell_start AS hour,
  cell_period AS period,
  sum(counted_quantity) AS before_quantity,
  sum(counted_events) AS before_events,
  sum(stored_quantity) AS after_quantity,
  sum(stored_events) AS after_events,
  sum(late_event) AS late_events,
  sum(late_amount) AS late_quantity
FROM (
  SELECT
    metric AS cell_metric, customer_ref AS cell_customer, toDateTime(toStartOfHour(ts), 'UTC') AS cell_start,
    period AS cell_period,
    toDecimal128(0, 6) AS counted_quantity, toInt64(0) AS counted_events,
    quantity AS stored_quantity, toInt64(1) AS stored_events,
    toInt64(late) AS late_event, if(late, quantity, toDecimal128(0, 6)) AS late_amount
  FROM stored
  UNION ALL
  SELECT
    metric, customer_ref, hour, period,
    quantity, events,
    toDecimal128(0, 6), toInt64(0),
    toInt64(0), toDecimal128(0, 6)
  FROM usage_hourly_counters
  WHERE tenant_id = {tenantId:String}
    AND hour >= {start:DateTime64(3, 'UTC')} AND hour < {end:DateTime64(3, 'UTC')}
    AND metric IN {metrics:Array(String)}
    AND (empty({customerRefs:Array(String)}) OR has({customerRefs:Array(String)}, customer_ref))
)
GROUP BY cell_metric, cell_customer, cell_start, cell_period;
