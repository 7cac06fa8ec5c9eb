-- Reconciliation: local totals against what Stripe reported (stripe_reported_totals of one run), per item
-- (tenant, metric, customer, period) in the given periods.
--   L local_total  = period counters + approved usage adjustments (exact decimals); for a unique_count, max or
--                    latest meter the period's value, which a Stripe `last` meter holds as S
--   P pushed_total = whole units Stripe acknowledged (push ledger)
--   S stripe_total = Stripe's meter event summary over the period (NULL: not read, i.e. unmapped)
--   diff_abs = L - S, diff_pct = |L - S| / max(|L|, 1)
-- Status: unmapped (no active meter or customer mapping); unpushable (period closed past Stripe's 35 days with
-- units unsent); ok (L = S, or Stripe holds exactly what it acknowledged or a push is still settling, so the gap
-- is the push job's to close, unless that push failed and the gap is beyond epsilon); aligned (Stripe differs from
-- what it acknowledged by at most epsilon: re-base the ledger on S); drift (beyond epsilon: flag, change nothing).
WITH
  -- Every row that says something about an item, side by side, summed per item below (one GROUP BY instead of
  -- joining seven aggregations: 100,000 items, 340 -> 150 ms measured). An item exists when it has local usage or a
  -- push ledger row; the other sources only describe it.
  facts AS (
    SELECT
      metric, customer_ref, period,
      sum(local_part) AS local_total,
      max(is_local) AS has_local,
      anyIf(pushed_part, is_pushed) AS pushed_total,
      anyIf(pushed_at_part, is_pushed) AS pushed_at,
      max(is_pushed) AS has_pushed,
      anyIf(stripe_part, is_reported) AS stripe_total,
      anyIf(reported_customer_part, is_reported) AS reported_customer,
      sum(pending_part) AS pending_intents,
      sum(failed_part) AS failed_intents,
      argMaxIf(error_part, error_at, failed_part > 0) AS failed_error,
      sum(late_part) AS late_events,
      sum(late_quantity_part) AS late_quantity,
      sum(duplicates_part) AS duplicates_removed,
      sum(adjustment_part) AS adjustments,
      sum(adjustment_total_part) AS adjustments_total
    FROM (
      -- Local usage: period counters (a count meter's events, as the push sends them; docs/meters.md)...
      SELECT metric, customer_ref, period,
        if(metric IN (
          SELECT metric FROM meters FINAL WHERE tenant_id = {tenantId:String} AND aggregation = 'count' AND deleted = 0
        ), toDecimal128(events, 6), quantity) AS local_part, 1 AS is_local, toInt64(0) AS pushed_part, toDateTime64(0, 3, 'UTC') AS pushed_at_part, 0 AS is_pushed,
        toDecimal128(0, 6) AS stripe_part, '' AS reported_customer_part, 0 AS is_reported,
        0 AS pending_part, 0 AS failed_part, '' AS error_part, toDateTime64(0, 3, 'UTC') AS error_at,
        0 AS late_part, toDecimal128(0, 6) AS late_quantity_part, toInt64(0) AS duplicates_part,
        0 AS adjustment_part, toDecimal128(0, 6) AS adjustment_total_part
      FROM usage_period_counters
      WHERE tenant_id = {tenantId:String} AND period IN {periods:Array(String)} AND ({metric:String} = '' OR metric = {metric:String})
        AND metric NOT IN (
          SELECT metric FROM meters FINAL
          WHERE tenant_id = {tenantId:String} AND aggregation IN ('unique_count', 'max', 'latest') AND deleted = 0
        )
      UNION ALL
      -- ...or, for a unique_count, max or latest meter, the period's value (what its Stripe `last` meter should hold)...
      SELECT metric, customer_ref, period,
        local_value, 1, toInt64(0), toDateTime64(0, 3, 'UTC'), 0,
        toDecimal128(0, 6), '', 0,
        0, 0, '', toDateTime64(0, 3, 'UTC'),
        0, toDecimal128(0, 6), toInt64(0),
        0, toDecimal128(0, 6)
      FROM (
        SELECT s.metric AS metric, s.customer_ref AS customer_ref, s.period AS period,
          multiIf(
            any(a.aggregation) = 'unique_count', toDecimal128(uniqExactMerge(s.distinct_values), 6),
            any(a.aggregation) = 'max', maxMerge(s.maximum),
            argMaxMerge(s.latest)
          ) AS local_value
        FROM meter_period_states AS s
        INNER JOIN (
          SELECT metric, aggregation FROM meters FINAL
          WHERE tenant_id = {tenantId:String} AND aggregation IN ('unique_count', 'max', 'latest') AND deleted = 0
        ) AS a ON a.metric = s.metric
        WHERE s.tenant_id = {tenantId:String} AND s.period IN {periods:Array(String)} AND ({metric:String} = '' OR s.metric = {metric:String})
        GROUP BY s.metric, s.customer_ref, s.period
        HAVING sum(s.events) != 0
      )
      UNION ALL
      -- ...and approved adjustments that count as usage (a reconciliation alignment only re-bases the push ledger).
      SELECT metric, customer_ref, period,
        delta, 1, 0, toDateTime64(0, 3, 'UTC'), 0,
        0, '', 0,
        0, 0, '', toDateTime64(0, 3, 'UTC'),
        0, 0, 0,
        1, delta
      FROM adjustments FINAL
      WHERE tenant_id = {tenantId:String} AND period IN {periods:Array(String)} AND ({metric:String} = '' OR metric = {metric:String})
        AND approved_by != '' AND reason != 'reconciliation'
      UNION ALL
      -- What Stripe acknowledged (push ledger).
      SELECT metric, customer_ref, period,
        0, 0, pushed_total, updated_at, 1,
        0, '', 0,
        0, 0, '', toDateTime64(0, 3, 'UTC'),
        0, 0, 0,
        0, 0
      FROM pushed_totals FINAL
      WHERE tenant_id = {tenantId:String} AND period IN {periods:Array(String)} AND ({metric:String} = '' OR metric = {metric:String})
      UNION ALL
      -- What Stripe reported in this run.
      SELECT metric, customer_ref, period,
        0, 0, 0, toDateTime64(0, 3, 'UTC'), 0,
        stripe_total, stripe_customer_id, 1,
        0, 0, '', toDateTime64(0, 3, 'UTC'),
        0, 0, 0,
        0, 0
      FROM stripe_reported_totals
      WHERE tenant_id = {tenantId:String} AND run_id = {runId:String}
      UNION ALL
      -- Push intents still pending, and failed ones with Stripe's error.
      SELECT metric, customer_ref, period,
        0, 0, 0, toDateTime64(0, 3, 'UTC'), 0,
        0, '', 0,
        status = 'pending', status IN ('failed', 'stuck'), last_error, updated_at,
        0, 0, 0,
        0, 0
      FROM push_log FINAL
      WHERE tenant_id = {tenantId:String} AND period IN {periods:Array(String)}
      UNION ALL
      -- Events stored beyond the lateness window that no replay has counted yet (replayed_events), one per key.
      SELECT metric, customer_ref, period,
        0, 0, 0, toDateTime64(0, 3, 'UTC'), 0,
        0, '', 0,
        0, 0, '', toDateTime64(0, 3, 'UTC'),
        1, quantity, 0,
        0, 0
      FROM events
      PREWHERE tenant_id = {tenantId:String} AND ts >= {since:DateTime64(3, 'UTC')} AND beyond_window != 0
      WHERE period IN {periods:Array(String)}
        AND idempotency_key NOT IN (
          SELECT idempotency_key FROM replayed_events WHERE tenant_id = {tenantId:String} AND ts >= {since:DateTime64(3, 'UTC')}
        )
      LIMIT 1 BY idempotency_key
      UNION ALL
      -- Duplicates replay removed from the counters (negative event corrections).
      SELECT metric, customer_ref, period,
        0, 0, 0, toDateTime64(0, 3, 'UTC'), 0,
        0, '', 0,
        0, 0, '', toDateTime64(0, 3, 'UTC'),
        0, 0, if(events < 0, -events, 0),
        0, 0
      FROM counter_corrections
      WHERE tenant_id = {tenantId:String} AND period IN {periods:Array(String)}
    )
    GROUP BY metric, customer_ref, period
    HAVING has_local OR has_pushed
  ),
  mapped AS (
    SELECT f.*, f.metric AS item_metric, f.customer_ref AS item_customer, f.period AS item_period,
      m.meter_id AS meter_id, m.active AS mapping_active, c.stripe_customer_id AS stripe_customer_id
    FROM facts AS f
    LEFT JOIN (SELECT metric, meter_id, active FROM price_mappings FINAL WHERE tenant_id = {tenantId:String} AND deleted = 0) AS m
      ON m.metric = f.metric
    LEFT JOIN (SELECT customer_ref, stripe_customer_id FROM customer_mappings FINAL WHERE tenant_id = {tenantId:String} AND deleted = 0) AS c
      ON c.customer_ref = f.customer_ref
  ),
  compared AS (
    SELECT
      mapped.*,
      reported_customer != '' AS reported,
      toInt128(floor(local_total)) - pushed_total AS pending,
      if(reported, local_total - stripe_total, NULL) AS diff_abs,
      if(reported, toFloat64(abs(local_total - stripe_total)) / greatest(toFloat64(abs(local_total)), 1), NULL) AS diff_pct,
      pending_intents > 0 OR pushed_at > now64(3) - toIntervalSecond({settleSeconds:UInt32}) AS in_flight,
      failed_intents > 0 AS push_failed
    FROM mapped
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
