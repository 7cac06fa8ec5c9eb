-- What a replay of one hour-aligned window does to the non-additive meters (unique_count, max, latest), per
-- (metric, customer, period) the window holds events of: the period's value now (before: its states) and once the
-- window's stored events are merged in (after). Sums and counts are reported by sql/replay/items.sql.
SELECT
  metric,
  customer_ref AS customerRef,
  period,
  max(agg) AS aggregation,
  multiIf(
    max(agg) = 'unique_count', toString(uniqExactMergeIf(distinct_values, src = 0)),
    max(agg) = 'max', toString(maxMergeIf(maximum, src = 0)),
    toString(argMaxMergeIf(latest, src = 0))
  ) AS before,
  multiIf(
    max(agg) = 'unique_count', toString(uniqExactMerge(distinct_values)),
    max(agg) = 'max', toString(maxMerge(maximum)),
    toString(argMaxMerge(latest))
  ) AS after
FROM (
  SELECT 1 AS src, metric, customer_ref, period, any(aggregation) AS agg,
    uniqExactStateIf(unique_value, aggregation = 'unique_count') AS distinct_values,
    maxStateIf(quantity, aggregation = 'max') AS maximum,
    argMaxStateIf(quantity, (ts, idempotency_key), aggregation = 'latest') AS latest
  FROM (
    SELECT metric, customer_ref, period, aggregation, unique_value, quantity, ts, idempotency_key
    FROM events
    WHERE tenant_id = {tenantId:String}
      AND ts >= {start:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')}
      AND metric IN {metrics:Array(String)} AND aggregation IN ('unique_count', 'max', 'latest')
      AND (empty({customerRefs:Array(String)}) OR has({customerRefs:Array(String)}, customer_ref))
    LIMIT 1 BY idempotency_key
  )
  GROUP BY metric, customer_ref, period
  UNION ALL
  SELECT 0, metric, customer_ref, period, '', distinct_values, maximum, latest
  FROM meter_period_states
  WHERE tenant_id = {tenantId:String} AND metric IN {metrics:Array(String)}
    AND period BETWEEN formatDateTime({start:DateTime64(3, 'UTC')} - INTERVAL 1 DAY, '%Y-%m', 'UTC')
                   AND formatDateTime({end:DateTime64(3, 'UTC')} + INTERVAL 1 DAY, '%Y-%m', 'UTC')
    AND (empty({customerRefs:Array(String)}) OR has({customerRefs:Array(String)}, customer_ref))
)
GROUP BY metric, customer_ref, period
-- Items of the window only: states alone are a customer the window did not touch.
HAVING max(src) = 1
ORDER BY metric, customerRef, period
