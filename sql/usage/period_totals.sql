-- Per-customer totals of one metric in one billing period, from the period counters (never raw events).
-- Decimals leave as text so no total is ever rounded through a float.
SELECT
  customer_ref AS customerRef,
  toString(sum(quantity)) AS total,
  toString(sum(events)) AS eventCount
FROM usage_period_counters
WHERE tenant_id = {tenantId:String}
  AND metric = {metric:String}
  AND period = {period:String}
  AND ({customerRef:String} = '' OR customer_ref = {customerRef:String})
GROUP BY customer_ref
HAVING sum(events) != 0 OR sum(quantity) != 0
ORDER BY customer_ref
