-- The grouped usage query of a metric with a meter definition, from the hourly meter states: per window (an hour,
-- a day in {timezone}, or a billing period), optionally per customer and per the dimensions in {groupBy}, filtered on
-- dimension values ({filterKeys}[i] = {filterValues}[i]). States merge across hours, so a distinct count per day or
-- period is exact. Windows of hours only: callers send whole-hour zones here (others read sql/meters/query_events.sql).
-- The aggregation is a parameter: the -If conditions are constant, so only its own state is merged.
SELECT
  formatDateTime(window_start, '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS windowStart,
  formatDateTime(window_end, '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS windowEnd,
  window_period AS period,
  customer AS customerRef,
  dims AS dimensions,
  multiIf(
    {aggregation:String} = 'sum', toString(sumIf(toDecimal256(quantity, 6), {aggregation:String} = 'sum')),
    {aggregation:String} = 'count', toString(sum(events)),
    {aggregation:String} = 'unique_count', toString(uniqExactMergeIf(distinct_values, {aggregation:String} = 'unique_count')),
    {aggregation:String} = 'max', toString(maxMergeIf(maximum, {aggregation:String} = 'max')),
    toString(argMaxMergeIf(latest, {aggregation:String} = 'latest'))
  ) AS value
FROM (
  SELECT
    multiIf(
      {window:String} = 'P1D', toDateTime(toStartOfDay(hour, {timezone:String}), 'UTC'),
      {window:String} = 'billing_period', toDateTime(0, 'UTC'),
      hour
    ) AS window_start,
    multiIf(
      -- The next local midnight: 26 hours on always lands in the next local day (days last 23 to 25 hours).
      {window:String} = 'P1D', toDateTime(toStartOfDay(toStartOfDay(hour, {timezone:String}) + INTERVAL 26 HOUR, {timezone:String}), 'UTC'),
      {window:String} = 'billing_period', toDateTime(0, 'UTC'),
      hour + INTERVAL 1 HOUR
    ) AS window_end,
    if({window:String} = 'billing_period', period, '') AS window_period,
    if({byCustomer:UInt8} = 1, customer_ref, '') AS customer,
    mapFilter((k, v) -> has({groupBy:Array(String)}, k), dimensions) AS dims,
    quantity, events, distinct_values, maximum, latest
  FROM meter_hourly_states
  WHERE tenant_id = {tenantId:String} AND metric = {metric:String}
    AND hour >= {from:DateTime64(3, 'UTC')} AND hour < {to:DateTime64(3, 'UTC')}
    AND ({customerRef:String} = '' OR customer_ref = {customerRef:String})
    AND arrayAll((k, v) -> dimensions[k] = v, {filterKeys:Array(String)}, {filterValues:Array(String)})
)
GROUP BY window_start, window_end, window_period, customer, dims
HAVING sum(events) != 0
ORDER BY window_start, window_period, customer, toString(dims)
LIMIT {limit:UInt32}
