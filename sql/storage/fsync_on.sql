-- Every part an INSERT writes to {table} is fdatasync'ed (its files, then its directory before and after the rename
-- to its final name) before the INSERT returns; so is every part a merge or mutation writes, before the parts it
-- replaces are dropped (the embedded engine drops them at once: old_parts_lifetime is 0 there).
-- MergeTree settings: an INSERT's own SETTINGS clause refuses them.
ALTER TABLE {table:Identifier} {{on_cluster}}
MODIFY SETTING fsync_after_insert = 1, fsync_part_directory = 1, min_rows_to_fsync_after_merge = 1;
