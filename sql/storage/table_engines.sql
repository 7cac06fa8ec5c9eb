-- Engine and table-level settings (in engine_full) of {tables}.
SELECT name, engine, engine_full
FROM system.tables
WHERE database = currentDatabase() AND name IN {tables:Array(String)}
ORDER BY name;
