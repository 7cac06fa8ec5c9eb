-- The first response stored for a caller's idempotency key within the last 24 hours (no row: none).
SELECT request_hash AS requestHash, status, response
FROM idempotency_keys
WHERE caller = {caller:String} AND idempotency_key = {key:String} AND created_at > now64(3) - INTERVAL 1 DAY
ORDER BY created_at
LIMIT 1
