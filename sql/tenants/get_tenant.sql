SELECT id, timezone, stripe_account, toString(created_at) AS created_at
FROM tenants FINAL
WHERE id = {id:String}
