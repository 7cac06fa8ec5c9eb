-- The tables a backup copies: every MergeTree-family table of the service's database, with where its parts live.
-- Views hold no data (their target tables are listed), and replay_cells (Memory) only stages a replay in progress.
SELECT name, engine, total_rows AS rows, data_paths[1] AS data_path
FROM system.tables
WHERE database = currentDatabase() AND engine LIKE '%MergeTree' AND NOT is_temporary
ORDER BY name
