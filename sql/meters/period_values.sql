-- A non-additive meter's (unique_count, max, latest) value per customer in one billing period, and over every customer
-- (customerRef '', isTotal 1): states merged over the whole period, so a distinct count is distinct over the period
-- (not a sum of hourly or per-customer counts) and a maximum or latest is the period's own. Decimals leave as text.
SELECT customerRef, isTotal, value, eventCount FROM (
  SELECT
    customer_ref AS customerRef,
    0 AS isTotal,
    multiIf(
      {aggregation:String} = 'unique_count', toString(uniqExactMerge(distinct_values)),
      {aggregation:String} = 'max', toString(maxMerge(maximum)),
      toString(argMaxMerge(latest))
    ) AS value,
    toString(sum(events)) AS eventCount
  FROM meter_period_states
  WHERE tenant_id = {tenantId:String} AND metric = {metric:String} AND period = {period:String}
    AND ({customerRef:String} = '' OR customer_ref = {customerRef:String})
  GROUP BY customer_ref
  HAVING sum(events) != 0
  UNION ALL
  SELECT
    '',
    1,
    multiIf(
      {aggregation:String} = 'unique_count', toString(uniqExactMerge(distinct_values)),
      {aggregation:String} = 'max', toString(maxMerge(maximum)),
      toString(argMaxMerge(latest))
    ),
    toString(sum(events))
  FROM meter_period_states
  WHERE tenant_id = {tenantId:String} AND metric = {metric:String} AND period = {period:String}
    AND ({customerRef:String} = '' OR customer_ref = {customerRef:String})
  HAVING sum(events) != 0
)
ORDER BY isTotal, customerRef
