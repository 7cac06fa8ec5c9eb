-- Back to the engine defaults (no fsync on insert): parts reach the disk when the OS writes its page cache back.
ALTER TABLE {table:Identifier} {{on_cluster}} RESET SETTING fsync_after_insert, fsync_part_directory;
