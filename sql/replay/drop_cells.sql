-- A replay's cells, once reported and applied (sql/replay/stage_cells.sql).
ALTER TABLE replay_cells DELETE WHERE replay_id = {replayId:String} SETTINGS mutations_sync = 2
