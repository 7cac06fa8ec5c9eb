-- A whole month of a raw table, every row before the cutoff: dropped as files, nothing rewritten. Materialized views
-- do not fire; a partition absent from a node is a no-op there.
ALTER TABLE {table:Identifier} {{on_cluster}} DROP PARTITION ID {partition:String}
