-- The counters are the targets of the materialized views on events (0004) and counter_corrections (0008). Without a
-- deduplication window of their own, an INSERT retried with the same insert_deduplication_token after it landed but
-- reported a failure was dropped by events and counted again by the counters (measured: events 1 row, counters 2).
-- With the window the views' blocks are deduplicated too (deduplicate_blocks_in_dependent_materialized_views, set by
-- ingest); different INSERTs have different tokens, so blocks that merely look alike are still all counted.
-- A replicated table uses replicated_deduplication_window instead; this setting is then unused.
ALTER TABLE {{local:usage_hourly_counters}} {{on_cluster}} MODIFY SETTING non_replicated_deduplication_window = 1000;

ALTER TABLE {{local:usage_period_counters}} {{on_cluster}} MODIFY SETTING non_replicated_deduplication_window = 1000;
