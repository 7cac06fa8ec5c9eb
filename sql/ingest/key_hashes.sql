-- The two filter hashes of one tenant's keys inserted since a snapshot, as 8 bytes a key (RowBinary: two UInt32).
-- They are the functions src/ingest/dedupe/key-hash.ts computes for a new key.
SELECT murmurHash3_32(idempotency_key), xxHash32(idempotency_key)
FROM event_keys
WHERE tenant_id = {tenantId:String} AND inserted_at >= toDateTime({since:UInt32}, 'UTC')
FORMAT RowBinary
