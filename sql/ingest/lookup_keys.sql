-- Which of these idempotency keys a tenant already stored, with the stored payload fingerprint
-- (same fingerprint: duplicate; another: conflict). Point look-ups on event_keys' (tenant_id, idempotency_key) order;
-- only the keys the in-memory filter could not rule out come here.
-- Keys arrive newline-joined in one String (cheap to parse); the rare key holding a newline comes in oddKeys.
SELECT idempotency_key, any(payload_hash) AS payload_hash
FROM event_keys
WHERE tenant_id = {tenantId:String}
  AND (idempotency_key IN (SELECT arrayJoin(splitByChar('\n', {keys:String})))
       OR idempotency_key IN {oddKeys:Array(String)})
GROUP BY idempotency_key
