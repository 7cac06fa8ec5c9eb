-- Server mode: free and total bytes of the ClickHouse disk holding this database's data (the disks of its active
-- parts, and `default`, where new parts and metadata go) with the smallest share free.
SELECT name, free_space, total_space
FROM system.disks
WHERE name = 'default' OR name IN (SELECT disk_name FROM system.parts WHERE database = currentDatabase() AND active)
ORDER BY free_space / greatest(total_space, 1)
LIMIT 1
