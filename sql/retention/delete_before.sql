-- The rows before the cutoff left in the month it falls in (a lightweight delete: rows are masked at once and
-- removed by merges). Materialized views do not fire on deletes, so no counter changes.
DELETE FROM {table:Identifier} {{on_cluster}} WHERE ts < {cutoff:DateTime64(3, 'UTC')}
