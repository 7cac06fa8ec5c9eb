-- Usage over time from the hourly counters, by hour or by day in the tenant's time zone (bucket starts in UTC).
-- Summed as Decimal256, which cannot wrap (sum() over Decimal(38, 6) can; docs/totals.md).
SELECT
  formatDateTime(
    if({step:String} = 'day', toStartOfDay(hour, {timezone:String}), toTimeZone(hour, {timezone:String})),
    '%Y-%m-%dT%H:%i:%SZ', 'UTC'
  ) AS start,
  toString(sum(toDecimal256(quantity, 6))) AS total,
  toString(sum(events)) AS eventCount
FROM usage_hourly_counters
WHERE tenant_id = {tenantId:String}
  AND metric = {metric:String}
  AND ({customerRef:String} = '' OR customer_ref = {customerRef:String})
  AND hour >= {since:DateTime64(3, 'UTC')}
  AND hour < {until:DateTime64(3, 'UTC')}
GROUP BY start
HAVING sum(events) != 0 OR sum(toDecimal256(quantity, 6)) != 0
ORDER BY start
