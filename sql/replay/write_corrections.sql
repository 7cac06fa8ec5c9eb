-- An apply's counter corrections for one hour-aligned window (replay_window_cells, sql/replay/window_cells.sql):
-- every cell whose counters differ from the stored events gets the signed difference, under the replay's id. One
-- INSERT feeds both counters through counter_corrections' materialized views, in parallel.
INSERT INTO counter_corrections (replay_id, tenant_id, metric, customer_ref, hour, period, quantity, events)
SELECT {replayId:String}, {tenantId:String}, metric, customer_ref, hour, period,
  after_quantity - before_quantity, after_events - before_events
FROM replay_window_cells(
  tenantId = {tenantId:String}, metrics = {metrics:Array(String)}, customerRefs = {customerRefs:Array(String)},
  start = {start:DateTime64(3, 'UTC')}, end = {end:DateTime64(3, 'UTC')})
WHERE after_quantity != before_quantity OR after_events != before_events
SETTINGS parallel_view_processing = 1
