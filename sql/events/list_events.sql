-- Raw events for debugging, oldest first, paged by a (ts, idempotency_key) cursor. FINAL: the current version of
-- each event (a replayed late event has a newer row flagged 2).
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
  multiIf(beyond_window = 1, 'beyond_window', beyond_window = 2, 'replayed', 'counted') AS lateness,
  replaceOne(toString(ingested_at), ' ', 'T') || 'Z' AS ingestedAt,
  toUnixTimestamp64Milli(ts) AS tsMs
FROM events FINAL
WHERE tenant_id = {tenantId:String}
  AND ts >= {since:DateTime64(3, 'UTC')}
  AND ts < {until:DateTime64(3, 'UTC')}
  AND ({metric:String} = '' OR metric = {metric:String})
  AND ({customerRef:String} = '' OR customer_ref = {customerRef:String})
  -- lateness: '' all; 'beyond' stored but not counted (later than the lateness window); 'replayed' counted by a replay
  AND ({lateness:String} = '' OR beyond_window = multiIf({lateness:String} = 'beyond', 1, {lateness:String} = 'replayed', 2, 0))
  AND (toUnixTimestamp64Milli(ts), idempotency_key) > ({afterTsMs:Int64}, {afterKey:String})
ORDER BY ts, idempotency_key
LIMIT {limit:UInt32}
