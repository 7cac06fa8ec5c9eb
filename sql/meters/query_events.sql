-- The grouped usage query from the stored events themselves: for minute windows, and for hours or days in a zone
-- whose offset is not a whole number of hours (the hourly states cannot be cut at its local boundaries). Counts what
-- the counters count: events inside the lateness window, and those beyond it once a replay counted them. FINAL: one
-- row per idempotency key. Windows and groups as sql/meters/query_states.sql.
SELECT
  formatDateTime(window_start, '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS windowStart,
  formatDateTime(window_end, '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS windowEnd,
  window_period AS period,
  customer AS customerRef,
  dims AS dimensions,
  multiIf(
    {aggregation:String} = 'sum', toString(sumIf(toDecimal256(quantity, 6), {aggregation:String} = 'sum')),
    {aggregation:String} = 'count', toString(count()),
    {aggregation:String} = 'unique_count', toString(uniqExactIf(unique_value, {aggregation:String} = 'unique_count')),
    {aggregation:String} = 'max', toString(maxIf(quantity, {aggregation:String} = 'max')),
    toString(argMaxIf(quantity, (ts, idempotency_key), {aggregation:String} = 'latest'))
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
    mapFilter((k, v) -> has({groupBy:Array(String)}, k), dimensions) AS dims,
    quantity, ts, idempotency_key, unique_value
  FROM events FINAL
  WHERE tenant_id = {tenantId:String} AND metric = {metric:String}
    AND ts >= {from:DateTime64(3, 'UTC')} AND ts < {to:DateTime64(3, 'UTC')}
    AND ({customerRef:String} = '' OR customer_ref = {customerRef:String})
    AND arrayAll((k, v) -> dimensions[k] = v, {filterKeys:Array(String)}, {filterValues:Array(String)})
    AND (beyond_window = 0 OR idempotency_key IN (
      SELECT idempotency_key FROM replayed_events
      WHERE tenant_id = {tenantId:String} AND ts >= {from:DateTime64(3, 'UTC')} AND ts < {to:DateTime64(3, 'UTC')}
    ))
)
GROUP BY window_start, window_end, window_period, customer, dims
ORDER BY window_start, window_period, customer, toString(dims)
LIMIT {limit:UInt32}
