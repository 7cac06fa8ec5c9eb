-- Raw events for debugging, oldest first, paged by a (ts, idempotency_key) cursor.
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
  beyond_window = 1 AS beyondWindow,
  replaceOne(toString(ingested_at), ' ', 'T') || 'Z' AS ingestedAt,
  toUnixTimestamp64Milli(ts) AS tsMs
FROM events
WHERE tenant_id = {tenantId:String}
  AND ts >= {since:DateTime64(3, 'UTC')}
  AND ts < {until:DateTime64(3, 'UTC')}
  AND ({metric:String} = '' OR metric = {metric:String})
  AND ({customerRef:String} = '' OR customer_ref = {customerRef:String})
  AND (toUnixTimestamp64Milli(ts), idempotency_key) > ({afterTsMs:Int64}, {afterKey:String})
ORDER BY ts, idempotency_key
LIMIT {limit:UInt32}
