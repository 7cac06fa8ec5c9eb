-- Raw events for debugging, oldest first, paged by a (ts, idempotency_key) cursor. FINAL: the current version of
-- each event. An event stored beyond the lateness window is `replayed` once a replay counted it (replayed_events).
SELECT
  idempotency_key AS idempotencyKey,
  metric,
  customer_ref AS customerRef,
  resource_id AS resourceId,
  toString(quantity) AS quantityText,
  replaceOne(toString(ts), ' ', 'T') || 'Z' AS eventTime,
  period,
  meta,
  source,
  multiIf(beyond_window = 0, 'counted', replayed, 'replayed', 'beyond_window') AS lateness,
  replaceOne(toString(ingested_at), ' ', 'T') || 'Z' AS ingestedAt,
  toUnixTimestamp64Milli(ts) AS tsMs,
  beyond_window != 0 AND idempotency_key IN (
    SELECT idempotency_key
    FROM replayed_events
    WHERE tenant_id = {tenantId:String} AND ts >= {since:DateTime64(3, 'UTC')} AND ts < {until:DateTime64(3, 'UTC')}
  ) AS replayed
FROM events FINAL
WHERE tenant_id = {tenantId:String}
  AND ts >= {since:DateTime64(3, 'UTC')}
  AND ts < {until:DateTime64(3, 'UTC')}
  AND ({metric:String} = '' OR metric = {metric:String})
  AND ({customerRef:String} = '' OR customer_ref = {customerRef:String})
  -- lateness: '' all; 'beyond' stored but not counted (later than the lateness window); 'replayed' counted by a replay
  AND ({lateness:String} = '' OR lateness = multiIf({lateness:String} = 'beyond', 'beyond_window', {lateness:String}))
  AND (toUnixTimestamp64Milli(ts), idempotency_key) > ({afterTsMs:Int64}, {afterKey:String})
ORDER BY ts, idempotency_key
LIMIT {limit:UInt32}
