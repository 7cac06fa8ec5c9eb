-- Which of these idempotency keys a tenant already stored, with the stored payload fingerprint
-- (same fingerprint: duplicate; another: conflict). Point lookups on the (tenant_id, idempotency_key) sorting key.
SELECT idempotency_key, payload_hash
FROM events
WHERE tenant_id = {tenantId:String}
  AND idempotency_key IN {keys:Array(String)}
