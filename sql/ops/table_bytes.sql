-- Bytes on disk of each table's active parts in this database (compressed, as stored; parts being merged away and
-- detached parts are not counted).
SELECT table, sum(bytes_on_disk) AS bytes
FROM system.parts
WHERE database = currentDatabase() AND active
GROUP BY table
ORDER BY table
