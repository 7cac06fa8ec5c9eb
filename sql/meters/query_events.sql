-- The grouped usage query from the stored events themselves: for minute windows, and for hours or days in a zone
-- whose offset is not a whole number of hours (the hourly states cannot be cut at its local boundaries). Counts what
-- the counters count: events inside the lateness window, and those beyond it once a replay counted them. FINAL: one
-- row per idempotency key. Windows, groups and dimension slots as sql/meters/query_states.sql.
SELECT
  formatDateTime(window_start, '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS windowStart,
  formatDateTime(window_end, '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS windowEnd,
  window_period AS period,
  customer AS customerRef,
  arraySlice([d1, d2, d3, d4, d5], 1, length({groupBy:Array(String)})) AS dimensionValues,
  multiIf(
    {aggregation:String} = 'sum', toString(sum(toDecimal256(quantity, 6))),
    {aggregation:String} = 'count', toString(count()),
    {aggregation:String} = 'unique_count', toString(uniqExact(unique_value)),
    {aggregation:String} = 'max', toString(max(quantity)),
    toString(argMax(quantity, (ts, idempotency_key)))
  ) AS value
FROM (
  SELECT
    multiIf(
      {window:String} = 'PT1M', toDateTime(toStartOfMinute(ts), 'UTC'),
      {window:String} = 'PT1H', toDateTime(toStartOfHour(ts, {timezone:String}), 'UTC'),
      {window:String} = 'P1D', toDateTime(toStartOfDay(ts, {timezone:String}), 'UTC'),
      toDateTime(0, 'UTC')
    ) AS window_start,
    multiIf(
      {window:String} = 'PT1M', window_start + INTERVAL 1 MINUTE,
      {window:String} = 'PT1H', window_start + INTERVAL 1 HOUR,
      {window:String} = 'P1D', toDateTime(toStartOfDay(window_start + INTERVAL 26 HOUR, {timezone:String}), 'UTC'),
      toDateTime(0, 'UTC')
    ) AS window_end,
    if({window:String} = 'billing_period', period, '') AS window_period,
    if({byCustomer:UInt8} = 1, customer_ref, '') AS customer,
    if(length({groupBy:Array(String)}) >= 1, dimensions[{groupBy:Array(String)}[1]], '') AS d1,
    if(length({groupBy:Array(String)}) >= 2, dimensions[{groupBy:Array(String)}[2]], '') AS d2,
    if(length({groupBy:Array(String)}) >= 3, dimensions[{groupBy:Array(String)}[3]], '') AS d3,
    if(length({groupBy:Array(String)}) >= 4, dimensions[{groupBy:Array(String)}[4]], '') AS d4,
    if(length({groupBy:Array(String)}) >= 5, dimensions[{groupBy:Array(String)}[5]], '') AS d5,
    quantity, ts, idempotency_key, unique_value
  FROM events FINAL
  WHERE tenant_id = {tenantId:String} AND metric = {metric:String}
    AND ts >= {from:DateTime64(3, 'UTC')} AND ts < {to:DateTime64(3, 'UTC')}
    AND ({customerRef:String} = '' OR customer_ref = {customerRef:String})
    AND (empty({filterKeys:Array(String)}) OR arrayAll((k, v) -> dimensions[k] = v, {filterKeys:Array(String)}, {filterValues:Array(String)}))
    AND (beyond_window = 0 OR idempotency_key IN (
      SELECT idempotency_key FROM replayed_events
      WHERE tenant_id = {tenantId:String} AND ts >= {from:DateTime64(3, 'UTC')} AND ts < {to:DateTime64(3, 'UTC')}
    ))
)
GROUP BY window_start, window_end, window_period, customer, d1, d2, d3, d4, d5
ORDER BY window_start, window_period, customer, d1, d2, d3, d4, d5
LIMIT {limit:UInt32}
