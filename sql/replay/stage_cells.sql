-- Computes the cells of one hour-aligned window of a replay (replay_window_cells, sql/replay/window_cells.sql) and
-- keeps them under the replay's id until sql/replay/drop_cells.sql.
INSERT INTO replay_cells
SELECT {replayId:String}, *
FROM replay_window_cells(
  tenantId = {tenantId:String}, metrics = {metrics:Array(String)}, customerRefs = {customerRefs:Array(String)},
  start = {start:DateTime64(3, 'UTC')}, end = {end:DateTime64(3, 'UTC')})
