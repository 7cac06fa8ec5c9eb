-- The grouped usage query of a metric without a meter definition (a sum with no dimensions), from the hourly usage
-- counters, windowed as sql/meters/query_states.sql. Summed as Decimal256, which cannot wrap (docs/totals.md).
SELECT
  formatDateTime(window_start, '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS windowStart,
  formatDateTime(window_end, '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS windowEnd,
  window_period AS period,
  customer AS customerRef,
  CAST([], 'Array(String)') AS dimensionValues,
  toString(sum(toDecimal256(quantity, 6))) AS value
FROM (
  SELECT
    multiIf(
      {window:String} = 'P1D', toDateTime(toStartOfDay(hour, {timezone:String}), 'UTC'),
      {window:String} = 'billing_period', toDateTime(0, 'UTC'),
      hour
    ) AS window_start,
    multiIf(
      {window:String} = 'P1D', toDateTime(toStartOfDay(toStartOfDay(hour, {timezone:String}) + INTERVAL 26 HOUR, {timezone:String}), 'UTC'),
      {window:String} = 'billing_period', toDateTime(0, 'UTC'),
      hour + INTERVAL 1 HOUR
    ) AS window_end,
    if({window:String} = 'billing_period', period, '') AS window_period,
    if({byCustomer:UInt8} = 1, customer_ref, '') AS customer,
    quantity, events
  FROM usage_hourly_counters
  WHERE tenant_id = {tenantId:String} AND metric = {metric:String}
    AND hour >= {from:DateTime64(3, 'UTC')} AND hour < {to:DateTime64(3, 'UTC')}
    AND ({customerRef:String} = '' OR customer_ref = {customerRef:String})
)
GROUP BY window_start, window_end, window_period, customer
HAVING sum(events) != 0 OR sum(toDecimal256(quantity, 6)) != 0
ORDER BY window_start, window_period, customer
LIMIT {limit:UInt32}
