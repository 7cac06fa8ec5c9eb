-- Back to the engine defaults (no fsync): parts reach the disk when the OS writes its page cache back.
ALTER TABLE {table:Identifier} {{on_cluster}} RESET SETTING fsync_after_insert, fsync_part_directory, min_rows_to_fsync_after_merge;
