-- Every part an INSERT writes to {table} is fdatasync'ed (its files, then its directory before and after the rename
-- to its final name) before the INSERT returns. MergeTree settings: an INSERT's own SETTINGS clause refuses them.
ALTER TABLE {table:Identifier} {{on_cluster}} MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1;
