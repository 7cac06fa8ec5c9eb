-- Records the window's late events (stored beyond the lateness window, not yet counted) as counted by this replay.
-- Events are ordered by time (migration 0018), so it reads the window's granules, not the month. A key already
-- recorded is skipped, so a second apply records nothing.
INSERT INTO replayed_events (tenant_id, idempotency_key, ts, metric, customer_ref, period, replay_id)
SELECT tenant_id, idempotency_key, ts, metric, customer_ref, period, {replayId:String}
FROM events
-- Explicit PREWHERE: left to itself the planner moved the NOT IN below into it as well and ran 90 ms instead of 25.
PREWHERE tenant_id = {tenantId:String}
  AND ts >= {start:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')}
  AND beyond_window != 0
WHERE metric IN {metrics:Array(String)}
  AND (empty({customerRefs:Array(String)}) OR has({customerRefs:Array(String)}, customer_ref))
  AND idempotency_key NOT IN (
    SELECT idempotency_key
    FROM replayed_events
    WHERE tenant_id = {tenantId:String} AND ts >= {start:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')}
  )
LIMIT 1 BY idempotency_key
