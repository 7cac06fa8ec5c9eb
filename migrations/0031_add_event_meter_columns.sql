-- What the meter of an event's metric needs from it, written by ingest from the definition it looked up (docs/meters.md):
-- the aggregation ('' for a metric without a definition, which only the usage counters count), the values of the
-- meter's dimensions (a missing meta key reads as ''), the value a unique_count counts, and the UTC instant its local
-- day starts at in the tenant's zone (the engine takes only constant zones, so ingest works it out, as it does the
-- period). On the row, the meter states' views and replay compute from the event alone, exactly as ingest saw it,
-- with no lookup at insert time.
-- The first statement alters the stored table, the second the table in front of it on a cluster (a no-op on one node).
ALTER TABLE {{local:events}} {{on_cluster}}
  ADD COLUMN IF NOT EXISTS aggregation LowCardinality(String) DEFAULT '',
  ADD COLUMN IF NOT EXISTS dimensions Map(LowCardinality(String), String) DEFAULT map(),
  ADD COLUMN IF NOT EXISTS unique_value String DEFAULT '',
  ADD COLUMN IF NOT EXISTS day DateTime('UTC') DEFAULT toStartOfDay(ts);

ALTER TABLE events {{on_cluster}}
  ADD COLUMN IF NOT EXISTS aggregation LowCardinality(String) DEFAULT '',
  ADD COLUMN IF NOT EXISTS dimensions Map(LowCardinality(String), String) DEFAULT map(),
  ADD COLUMN IF NOT EXISTS unique_value String DEFAULT '',
  ADD COLUMN IF NOT EXISTS day DateTime('UTC') DEFAULT toStartOfDay(ts);
