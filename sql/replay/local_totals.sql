-- Local totals (period counters + approved adjustments that count as usage) of the items a replay touches.
SELECT metric, customer_ref AS customerRef, period, toString(sum(quantity)) AS total
FROM (
  SELECT metric, customer_ref, period, quantity
  FROM usage_period_counters
  WHERE tenant_id = {tenantId:String} AND metric IN {metrics:Array(String)} AND period IN {periods:Array(String)}
  UNION ALL
  SELECT metric, customer_ref, period, delta AS quantity
  FROM adjustments FINAL
  WHERE tenant_id = {tenantId:String} AND metric IN {metrics:Array(String)} AND period IN {periods:Array(String)}
    AND approved_by != '' AND reason != 'reconciliation'
)
GROUP BY metric, customer_ref, period
