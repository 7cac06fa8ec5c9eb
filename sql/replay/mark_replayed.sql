-- After a replay counted them, events flagged beyond the lateness window get a newer row version flagged 2
-- ("counted by replay"). The counters' views skip it (they count flag 0 only); ReplacingMergeTree keeps it.
-- Plain reads instead of FINAL: a flag-1 row needs a flag-2 version unless its key already has one (versions of
-- a key share its ts, so both reads stay inside the window).
INSERT INTO events
SELECT
  tenant_id, idempotency_key, metric, customer_ref, resource_id, quantity, ts, period, meta, source, payload_hash,
  -- Columns go by position; the aliases must not be column names (an alias would shadow beyond_window below).
  toUInt8(2) AS replayed_flag,
  now64(3) AS replayed_at
FROM events
PREWHERE ts >= {start:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')} AND beyond_window = 1
WHERE tenant_id = {tenantId:String}
  AND metric IN {metrics:Array(String)}
  AND (empty({customerRefs:Array(String)}) OR has({customerRefs:Array(String)}, customer_ref))
  AND idempotency_key NOT IN (
    SELECT idempotency_key
    FROM events
    PREWHERE ts >= {start:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')} AND beyond_window = 2
    WHERE tenant_id = {tenantId:String}
  )
LIMIT 1 BY idempotency_key
