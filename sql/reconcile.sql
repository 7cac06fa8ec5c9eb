-- Reconciliation: local totals against what Stripe reported (stripe_reported_totals of one run), per item
-- (tenant, metric, customer, period) in the given periods.
--   L local_total  = period counters + approved usage adjustments (exact decimals)
--   P pushed_total = whole units Stripe acknowledged (push ledger)
--   S stripe_total = Stripe's meter event summary over the period (NULL: not read, i.e. unmapped)
--   diff_abs = L - S, diff_pct = |L - S| / max(|L|, 1)
-- Status: unmapped (no active meter or customer mapping); unpushable (period closed past Stripe's 35 days with
-- units unsent); ok (L = S, or Stripe holds exactly what it acknowledged or a push is still settling, so the gap
-- is the push job's to close, unless that push failed and the gap is beyond epsilon); aligned (Stripe differs from
-- what it acknowledged by at most epsilon: re-base the ledger on S); drift (beyond epsilon: flag, change nothing).
WITH
  local_totals AS (
    SELECT metric, customer_ref, period, sum(quantity) AS local_total
    FROM (
      SELECT metric, customer_ref, period, quantity FROM usage_period_counters
      WHERE tenant_id = {tenantId:String} AND period IN {periods:Array(String)} AND ({metric:String} = '' OR metric = {metric:String})
      UNION ALL
      SELECT metric, customer_ref, period, delta AS quantity FROM adjustments FINAL
      WHERE tenant_id = {tenantId:String} AND period IN {periods:Array(String)} AND ({metric:String} = '' OR metric = {metric:String})
        AND approved_by != '' AND reason != 'reconciliation'
    )
    GROUP BY metric, customer_ref, period
  ),
  pushed_ledger AS (
    SELECT metric, customer_ref, period, pushed_total, updated_at AS pushed_at
    FROM pushed_totals FINAL
    WHERE tenant_id = {tenantId:String} AND period IN {periods:Array(String)} AND ({metric:String} = '' OR metric = {metric:String})
  ),
  keys AS (
    SELECT metric, customer_ref, period FROM local_totals
    UNION DISTINCT
    SELECT metric, customer_ref, period FROM pushed_ledger
  ),
  reported AS (
    SELECT metric, customer_ref, period, stripe_total, stripe_customer_id AS reported_customer
    FROM stripe_reported_totals
    WHERE tenant_id = {tenantId:String} AND run_id = {runId:String}
  ),
  intents AS (
    SELECT metric, customer_ref, period,
      countIf(status = 'pending') AS pending_intents,
      countIf(status IN ('failed', 'stuck')) AS failed_intents,
      argMaxIf(last_error, updated_at, status IN ('failed', 'stuck')) AS failed_error
    FROM push_log FINAL
    WHERE tenant_id = {tenantId:String} AND period IN {periods:Array(String)}
    GROUP BY metric, customer_ref, period
  ),
  late AS (
    -- Events stored beyond the lateness window that no replay has counted yet (replayed_events).
    SELECT metric, customer_ref, period, count() AS late_events, sum(quantity) AS late_quantity
    FROM (
      SELECT metric, customer_ref, period, idempotency_key, argMax(quantity, ingested_at) AS quantity
      FROM events
      WHERE tenant_id = {tenantId:String} AND ts >= {since:DateTime64(3, 'UTC')} AND beyond_window != 0
        AND period IN {periods:Array(String)}
        AND idempotency_key NOT IN (
          SELECT idempotency_key FROM replayed_events WHERE tenant_id = {tenantId:String} AND ts >= {since:DateTime64(3, 'UTC')}
        )
      GROUP BY metric, customer_ref, period, idempotency_key
    )
    GROUP BY metric, customer_ref, period
  ),
  replayed AS (
    SELECT metric, customer_ref, period, toInt64(-sumIf(events, events < 0)) AS duplicates_removed
    FROM counter_corrections
    WHERE tenant_id = {tenantId:String} AND period IN {periods:Array(String)}
    GROUP BY metric, customer_ref, period
  ),
  adjusted AS (
    SELECT metric, customer_ref, period, count() AS adjustments, sum(delta) AS adjustments_total
    FROM adjustments FINAL
    WHERE tenant_id = {tenantId:String} AND period IN {periods:Array(String)} AND approved_by != '' AND reason != 'reconciliation'
    GROUP BY metric, customer_ref, period
  ),
  mapped AS (
    SELECT k.metric AS item_metric, k.customer_ref AS item_customer, k.period AS item_period,
      l.local_total AS local_total, p.pushed_total AS pushed_total, p.pushed_at AS pushed_at,
      m.meter_id AS meter_id, m.active AS mapping_active, c.stripe_customer_id AS stripe_customer_id
    FROM keys AS k
    LEFT JOIN local_totals AS l ON l.metric = k.metric AND l.customer_ref = k.customer_ref AND l.period = k.period
    LEFT JOIN pushed_ledger AS p ON p.metric = k.metric AND p.customer_ref = k.customer_ref AND p.period = k.period
    LEFT JOIN (SELECT metric, meter_id, active FROM price_mappings FINAL WHERE tenant_id = {tenantId:String} AND deleted = 0) AS m
      ON m.metric = k.metric
    LEFT JOIN (SELECT customer_ref, stripe_customer_id FROM customer_mappings FINAL WHERE tenant_id = {tenantId:String} AND deleted = 0) AS c
      ON c.customer_ref = k.customer_ref
  ),
  compared AS (
    SELECT
      mapped.*,
      r.stripe_total AS stripe_total,
      r.reported_customer != '' AS reported,
      toInt128(floor(local_total)) - pushed_total AS pending,
      if(reported, local_total - r.stripe_total, NULL) AS diff_abs,
      if(reported, toFloat64(abs(local_total - r.stripe_total)) / greatest(toFloat64(abs(local_total)), 1), NULL) AS diff_pct,
      i.pending_intents > 0 OR pushed_at > now64(3) - toIntervalSecond({settleSeconds:UInt32}) AS in_flight,
      i.failed_intents > 0 AS push_failed,
      i.failed_error AS failed_error,
      lt.late_events AS late_events, lt.late_quantity AS late_quantity,
      rp.duplicates_removed AS duplicates_removed,
      a.adjustments AS adjustments, a.adjustments_total AS adjustments_total
    FROM mapped
    LEFT JOIN reported AS r ON r.metric = item_metric AND r.customer_ref = item_customer AND r.period = item_period
    LEFT JOIN intents AS i ON i.metric = item_metric AND i.customer_ref = item_customer AND i.period = item_period
    LEFT JOIN late AS lt ON lt.metric = item_metric AND lt.customer_ref = item_customer AND lt.period = item_period
    LEFT JOIN replayed AS rp ON rp.metric = item_metric AND rp.customer_ref = item_customer AND rp.period = item_period
    LEFT JOIN adjusted AS a ON a.metric = item_metric AND a.customer_ref = item_customer AND a.period = item_period
  )
SELECT
  item_metric AS metric,
  item_customer AS customerRef,
  stripe_customer_id AS stripeCustomerId,
  item_period AS period,
  toString(local_total) AS local,
  if(reported, toString(stripe_total), NULL) AS stripe,
  pushed_total AS pushed,
  pending,
  if(reported, toString(diff_abs), NULL) AS diffAbs,
  diff_pct AS diffPct,
  multiIf(
    meter_id = '' OR mapping_active = 0 OR stripe_customer_id = '' OR NOT reported, 'unmapped',
    has({unpushablePeriods:Array(String)}, item_period) AND pending != 0, 'unpushable',
    diff_abs = 0, 'ok',
    (stripe_total = pushed_total OR in_flight) AND NOT (push_failed AND diff_pct > {epsilon:Float64}), 'ok',
    stripe_total != pushed_total AND NOT in_flight AND diff_pct <= {epsilon:Float64}, 'aligned',
    'drift'
  ) AS status,
  in_flight AS inFlight,
  push_failed AS pushFailed,
  failed_error AS pushError,
  late_events AS lateEvents,
  toString(late_quantity) AS lateQuantity,
  duplicates_removed AS duplicatesRemovedByReplay,
  adjustments AS adjustments,
  toString(adjustments_total) AS adjustmentsTotal
FROM compared
ORDER BY metric, customerRef, period
SETTINGS join_use_nulls = 0
