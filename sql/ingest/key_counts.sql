-- Keys per tenant inserted since a filter snapshot (since = 0: every key), to size and fill the key filters; one
-- tenant's only when tenantId is given (a rebuild of that tenant's filter).
SELECT tenant_id, count() AS keys
FROM event_keys
WHERE inserted_at >= toDateTime({since:UInt32}, 'UTC')
  AND ({tenantId:String} = '' OR tenant_id = {tenantId:String})
GROUP BY tenant_id
