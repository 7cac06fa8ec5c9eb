-- Identity of the event_keys table: a key filter snapshot taken of another table (another database, or the table
-- recreated) is not used.
SELECT concat(currentDatabase(), '/', toString(uuid)) AS id
FROM system.tables
WHERE database = currentDatabase() AND name = 'event_keys'
