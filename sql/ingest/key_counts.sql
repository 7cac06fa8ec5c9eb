-- Keys per tenant inserted since a filter snapshot (since = 0: every key), to size and fill the key filters.
SELECT tenant_id, count() AS keys
FROM event_keys
WHERE inserted_at >= toDateTime({since:UInt32}, 'UTC')
GROUP BY tenant_id
