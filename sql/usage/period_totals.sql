-- Per-customer totals of one metric in one billing period, from the period counters (never raw events).
-- Decimals leave as text so no total is ever rounded through a float. Summed as Decimal256: sum() over Decimal(38, 6)
-- wraps silently past 1.7 * 10^32 (the engine checks overflow in + but not in sum(); docs/totals.md).
SELECT
  customer_ref AS customerRef,
  toString(sum(toDecimal256(quantity, 6))) AS total,
  toString(sum(events)) AS eventCount
FROM usage_period_counters
WHERE tenant_id = {tenantId:String}
  AND metric = {metric:String}
  AND period = {period:String}
  AND ({customerRef:String} = '' OR customer_ref = {customerRef:String})
GROUP BY customer_ref
HAVING sum(events) != 0 OR sum(toDecimal256(quantity, 6)) != 0
ORDER BY customer_ref
