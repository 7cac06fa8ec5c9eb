-- Every key with its current state; the hash is what requests are checked against, never the key itself.
SELECT id, tenant_id, key_hash, key_prefix, name, scopes, created_by,
       toString(created_at) AS created_at,
       if(isNull(revoked_at), '', toString(revoked_at)) AS revoked_at
FROM api_keys FINAL
WHERE {tenantId:String} = '' OR tenant_id = {tenantId:String}
ORDER BY created_at, id
