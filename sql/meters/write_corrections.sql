-- An apply's corrections to the meter states of one hour-aligned window, recomputed from the stored events (one row
-- per idempotency key, late events stored beyond the lateness window included) as sql/replay/write_corrections.sql
-- does for the usage counters. Per (hour, customer, dimensions, day, period) cell: sums and event counts get the signed
-- difference between the events and the states; the non-additive states (distinct values, maximum, latest) get the
-- state of the cell's events whenever it holds an event that arrived beyond the lateness window, which merging adds
-- (a state merged twice changes nothing, so a second apply leaves every value as it is). One INSERT feeds the three
-- state tables through meter_corrections' materialized views: a cell lies in one hour and one local day, so the hourly
-- and daily states stay equal.
INSERT INTO meter_corrections (replay_id, tenant_id, metric, hour, customer_ref, dimensions, day, period, quantity, events,
  distinct_values, maximum, latest)
SELECT
  {replayId:String}, {tenantId:String}, metric, hour, customer_ref, dimensions, day, period,
  sumIf(amount, src = 1) - sumIf(amount, src = 0),
  toInt64(countIf(src = 1)) - sumIf(counted, src = 0),
  uniqExactStateIf(unique_value, src = 1 AND aggregation = 'unique_count'),
  maxStateIf(amount, src = 1 AND aggregation = 'max'),
  argMaxStateIf(amount, (ts, idempotency_key), src = 1 AND aggregation = 'latest')
FROM (
  SELECT 1 AS src, metric, toDateTime(toStartOfHour(ts), 'UTC') AS hour, customer_ref, dimensions, day, period,
    quantity AS amount, toInt64(0) AS counted, unique_value, ts, idempotency_key, aggregation, beyond_window
  FROM events
  WHERE tenant_id = {tenantId:String}
    AND ts >= {start:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')}
    AND metric IN {metrics:Array(String)} AND aggregation != ''
    AND (empty({customerRefs:Array(String)}) OR has({customerRefs:Array(String)}, customer_ref))
  LIMIT 1 BY idempotency_key
  UNION ALL
  SELECT 0, metric, hour, customer_ref, dimensions, day, period,
    quantity, events, '', toDateTime64(0, 3, 'UTC'), '', '', 0
  FROM meter_hourly_states
  WHERE tenant_id = {tenantId:String}
    AND hour >= {start:DateTime64(3, 'UTC')} AND hour < {end:DateTime64(3, 'UTC')}
    AND metric IN {metrics:Array(String)}
    AND (empty({customerRefs:Array(String)}) OR has({customerRefs:Array(String)}, customer_ref))
)
GROUP BY metric, hour, customer_ref, dimensions, day, period
HAVING sumIf(amount, src = 1) != sumIf(amount, src = 0)
    OR toInt64(countIf(src = 1)) != sumIf(counted, src = 0)
    OR countIf(src = 1 AND beyond_window != 0 AND aggregation IN ('unique_count', 'max', 'latest')) > 0
SETTINGS parallel_view_processing = 1
