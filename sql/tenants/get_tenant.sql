SELECT id, timezone, toString(created_at) AS created_at
FROM tenants FINAL
WHERE id = {id:String}
