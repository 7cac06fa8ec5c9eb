-- Intents whose outcome is still open: pending (may or may not have reached Stripe) or failed (refused; retried
-- after a back-off or replaced when the mapping changes).
SELECT
  identifier, tenant_id AS tenantId, metric, customer_ref AS customerRef, period, seq, generation,
  meter_id AS meterId, event_name AS eventName, customer_payload_key AS customerPayloadKey,
  value_payload_key AS valuePayloadKey, stripe_customer_id AS stripeCustomerId,
  base_total AS baseTotal, target_total AS targetTotal, value, toUnixTimestamp(event_ts) AS eventTs,
  status, attempts, last_error AS lastError, last_error_code AS lastErrorCode, last_http_status AS lastHttpStatus,
  toUnixTimestamp64Milli(next_attempt_at) AS nextAttemptAt, toUnixTimestamp64Milli(created_at) AS createdAt
FROM push_log FINAL
WHERE status IN ('pending', 'failed', 'stuck')
  AND ({tenantId:String} = '' OR tenant_id = {tenantId:String})
