-- Replay diff for one tenant and an hour-aligned window: per (metric, customer, hour, period) cell, what the hourly
-- counters hold now (before) against what the stored events say (after: events FINAL, one row per idempotency key,
-- events flagged beyond the lateness window included). Also per cell: events scanned (stored events, one per key),
-- late events not yet counted, and duplicates: events the counters hold beyond those stored (a row counted twice),
-- measured against the counters, not raw rows, because merges collapse duplicate rows at any time.
WITH
  stored AS (
    SELECT
      metric, customer_ref, toStartOfHour(ts) AS cell_hour, period AS cell_period,
      sum(quantity) AS after_quantity,
      toInt64(count()) AS after_events,
      toInt64(countIf(beyond_window = 1)) AS late_events,
      sumIf(quantity, beyond_window = 1) AS late_quantity
    FROM events FINAL
    -- Filtering the window before FINAL merges is safe (every version of a key has the same ts) and spares merging
    -- the rest of the month's partition. beyond_window must stay out of PREWHERE: it differs between versions.
    PREWHERE ts >= {start:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')}
    WHERE tenant_id = {tenantId:String}
      AND metric IN {metrics:Array(String)}
      AND (empty({customerRefs:Array(String)}) OR has({customerRefs:Array(String)}, customer_ref))
    GROUP BY metric, customer_ref, cell_hour, cell_period
  ),
  counted AS (
    SELECT metric, customer_ref, hour AS cell_hour, period AS cell_period,
           sum(quantity) AS before_quantity, sum(events) AS before_events
    FROM usage_hourly_counters
    WHERE tenant_id = {tenantId:String}
      AND hour >= {start:DateTime64(3, 'UTC')} AND hour < {end:DateTime64(3, 'UTC')}
      AND metric IN {metrics:Array(String)}
      AND (empty({customerRefs:Array(String)}) OR has({customerRefs:Array(String)}, customer_ref))
    GROUP BY metric, customer_ref, cell_hour, cell_period
  ),
  cells AS (
    SELECT
      if(s.metric = '', c.metric, s.metric) AS cell_metric,
      if(s.metric = '', c.customer_ref, s.customer_ref) AS cell_customer,
      if(s.metric = '', c.cell_hour, s.cell_hour) AS cell_start,
      if(s.metric = '', c.cell_period, s.cell_period) AS cell_in_period,
      c.before_quantity AS before_quantity, c.before_events AS before_events,
      s.after_quantity AS after_quantity, s.after_events AS after_events,
      s.late_events AS late_events, s.late_quantity AS late_quantity
    FROM stored AS s
    FULL OUTER JOIN counted AS c
      ON s.metric = c.metric AND s.customer_ref = c.customer_ref AND s.cell_hour = c.cell_hour AND s.cell_period = c.cell_period
  )
-- One row per (metric, customer, period), with the cells whose counters differ from the events as corrections
-- [hour, quantity delta, events delta]: a dry-run reports the items, an apply writes the corrections.
SELECT
  cell_metric AS metric,
  cell_customer AS customerRef,
  cell_in_period AS period,
  toString(sum(before_quantity)) AS beforeQuantity,
  sum(before_events) AS beforeEvents,
  toString(sum(after_quantity)) AS afterQuantity,
  sum(after_events) AS afterEvents,
  sum(late_events) AS lateEvents,
  toString(sum(late_quantity)) AS lateQuantity,
  sum(after_events) AS eventsScanned,
  sum(greatest(before_events - (after_events - late_events), 0)) AS duplicateEvents,
  groupArrayIf(
    (formatDateTime(cell_start, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), toString(after_quantity - before_quantity), after_events - before_events),
    after_quantity != before_quantity OR after_events != before_events
  ) AS corrections
FROM cells
GROUP BY metric, customerRef, period
ORDER BY metric, customerRef, period
SETTINGS join_use_nulls = 0
