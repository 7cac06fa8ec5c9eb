-- Which of these idempotency keys a tenant already stored, with the stored payload fingerprint
-- (same fingerprint: duplicate; another: conflict). Point lookups on the (tenant_id, idempotency_key) sorting key.
-- Keys arrive newline-joined in one String (cheap to parse); the rare key holding a newline comes in oddKeys.
SELECT idempotency_key, payload_hash
FROM events
WHERE tenant_id = {tenantId:String}
  AND (idempotency_key IN (SELECT arrayJoin(splitByChar('\n', {keys:String})))
       OR idempotency_key IN {oddKeys:Array(String)})
