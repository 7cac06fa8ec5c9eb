-- The databases, and the tables of the service's own database: a name analysts use that is one of these, but not an
-- analyst view or table, is refused.
SELECT 'database' AS kind, name FROM system.databases
UNION ALL
SELECT 'table' AS kind, name FROM system.tables WHERE database = currentDatabase()
UNION ALL
SELECT 'current' AS kind, currentDatabase() AS name
