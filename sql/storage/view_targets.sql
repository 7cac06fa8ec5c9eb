-- Tables that an INSERT into one of {tables} also writes: the targets of the materialized views reading from them.
SELECT DISTINCT target_table AS target
FROM system.tables
WHERE database = currentDatabase()
  AND engine = 'MaterializedView'
  AND target_database = currentDatabase()
  AND target_table != ''
  AND name IN (
    SELECT arrayJoin(dependencies_table)
    FROM system.tables
    WHERE database = currentDatabase() AND name IN {tables:Array(String)}
  )
ORDER BY target;
