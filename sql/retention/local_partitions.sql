-- Partitions of a table held on this node, rows or not (parts whose rows were all deleted stay until merged away).
SELECT DISTINCT partition_id
FROM system.parts
WHERE database = currentDatabase() AND table = {table:String} AND active
ORDER BY partition_id
