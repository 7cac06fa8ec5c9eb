SELECT id, timezone, toString(created_at) AS created_at
FROM tenants FINAL
ORDER BY id
