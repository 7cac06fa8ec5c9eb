-- An apply's counter corrections for one hour-aligned window, from its staged cells (sql/replay/stage_cells.sql):
-- every cell whose counters differ from the stored events gets the signed difference, under the replay's id. One
-- INSERT feeds both counters through counter_corrections' materialized views, in parallel.
INSERT INTO counter_corrections (replay_id, tenant_id, metric, customer_ref, hour, period, quantity, events)
SELECT replay_id, {tenantId:String}, metric, customer_ref, hour, period,
  after_quantity - before_quantity, after_events - before_events
FROM replay_cells
WHERE replay_id = {replayId:String} AND (after_quantity != before_quantity OR after_events != before_events)
SETTINGS parallel_view_processing = 1
