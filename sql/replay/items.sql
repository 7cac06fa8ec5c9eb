-- A replay's report of one hour-aligned window, from its staged cells (sql/replay/stage_cells.sql): one row per
-- (metric, customer, period) with the item's local total now (before) and once the cells' corrections are written
-- (after), events scanned (stored events, one per key), late events not yet counted, duplicates (events the counters
-- hold beyond those stored: a row counted twice; measured against the counters, not raw rows, because merges
-- collapse duplicate rows at any time), and how many hour cells need a correction.
WITH
  -- Local totals (period counters + approved adjustments that count as usage) of the periods the window can touch:
  -- its UTC months widened by a day either side, for tenants whose zone moves a period boundary.
  totals AS (
    SELECT metric AS total_metric, customer_ref AS total_customer, period AS total_period, sum(quantity) AS total
    FROM (
      SELECT metric, customer_ref, period, quantity
      FROM usage_period_counters
      WHERE tenant_id = {tenantId:String} AND metric IN {metrics:Array(String)}
        AND period BETWEEN formatDateTime({start:DateTime64(3, 'UTC')} - INTERVAL 1 DAY, '%Y-%m', 'UTC')
                       AND formatDateTime({end:DateTime64(3, 'UTC')} + INTERVAL 1 DAY, '%Y-%m', 'UTC')
        AND (empty({customerRefs:Array(String)}) OR has({customerRefs:Array(String)}, customer_ref))
      UNION ALL
      SELECT metric, customer_ref, period, delta
      FROM adjustments FINAL
      WHERE tenant_id = {tenantId:String} AND metric IN {metrics:Array(String)}
        AND period BETWEEN formatDateTime({start:DateTime64(3, 'UTC')} - INTERVAL 1 DAY, '%Y-%m', 'UTC')
                       AND formatDateTime({end:DateTime64(3, 'UTC')} + INTERVAL 1 DAY, '%Y-%m', 'UTC')
        AND (empty({customerRefs:Array(String)}) OR has({customerRefs:Array(String)}, customer_ref))
        AND approved_by != '' AND reason != 'reconciliation'
    )
    GROUP BY total_metric, total_customer, total_period
  ),
  items AS (
    SELECT
      metric AS item_metric,
      customer_ref AS item_customer,
      period AS item_period,
      sum(after_quantity) - sum(before_quantity) AS item_delta,
      sum(after_events) - sum(before_events) AS item_events_delta,
      sum(after_events) AS item_events_scanned,
      sum(late_events) AS item_late_events,
      sum(late_quantity) AS item_late_quantity,
      sum(greatest(before_events - (after_events - late_events), 0)) AS item_duplicate_events,
      countIf(after_quantity != before_quantity OR after_events != before_events) AS item_corrections
    FROM replay_cells
    WHERE replay_id = {replayId:String}
    GROUP BY item_metric, item_customer, item_period
  )
-- Stripe is sent whole units, so the push that follows an apply sends floor(after) - floor(before).
SELECT
  item_metric AS metric,
  item_customer AS customerRef,
  item_period AS period,
  toString(total) AS before,
  toString(total + item_delta) AS after,
  toString(item_delta) AS delta,
  item_events_delta AS eventsDelta,
  item_events_scanned AS eventsScanned,
  item_late_events AS lateEvents,
  toString(item_late_quantity) AS lateQuantity,
  item_duplicate_events AS duplicateEvents,
  toInt64(floor(total + item_delta) - floor(total)) AS stripeDelta,
  item_corrections AS corrections
FROM items
LEFT JOIN totals ON total_metric = item_metric AND total_customer = item_customer AND total_period = item_period
ORDER BY metric, customerRef, period
SETTINGS join_use_nulls = 0
