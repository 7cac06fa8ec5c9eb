-- Events ordered by time and customer instead of by idempotency key. The reads that matter go by time: replay
-- recomputes a window (tenant, hours), analysts ask for a customer over a time range, and the events list pages by
-- time. Dedupe no longer reads this table (it asks event_keys, migration 0017), so the key order bought nothing but
-- the events_by_time projection (migration 0014), a second copy of most columns (events 57 -> 111 bytes/event).
-- Ordered by hour first, a window reads its own granules without a projection; within an hour, metric and
-- customer group a customer's rows and keep ts close together, which compresses. The key stays last in the sorting
-- key, so ReplacingMergeTree still collapses the versions of one event (every version of a key has the same ts,
-- metric and customer: ingest refuses the same key with another payload).
-- The rows are copied into the new table and the two are exchanged by name, so the counters' and event_keys'
-- materialized views, which name `events`, read the new table from then on; the copy triggers none of them. The copy
-- collapses the versions of an event as FINAL would (the latest ingested_at stays).
-- A crash before the EXCHANGE leaves the old table in place, and the re-run starts the copy again from empty.
CREATE TABLE IF NOT EXISTS {{local:events_reordered}} {{on_cluster}} (
  tenant_id LowCardinality(String),
  idempotency_key String,
  metric LowCardinality(String),
  customer_ref String,
  resource_id String DEFAULT '',
  quantity Decimal(38, 6),
  ts DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  period LowCardinality(String),
  meta Map(String, String) CODEC(ZSTD(1)),
  source LowCardinality(String) DEFAULT '',
  payload_hash FixedString(16),
  beyond_window UInt8 DEFAULT 0,
  ingested_at DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(Delta, ZSTD(1)),
  INDEX idx_customer customer_ref TYPE bloom_filter(0.01) GRANULARITY 4
) ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(ts)
PRIMARY KEY (tenant_id, toStartOfHour(ts), metric, customer_ref)
ORDER BY (tenant_id, toStartOfHour(ts), metric, customer_ref, ts, idempotency_key)
SETTINGS non_replicated_deduplication_window = 1000;

{{distributed:events_reordered:cityHash64(tenant_id)}};

TRUNCATE TABLE IF EXISTS {{local:events_reordered}} {{on_cluster}};

-- Synchronous on a cluster (the rows reach their shards before the statement returns), so the exchange below sees
-- them; the same shard key keeps every row on its shard.
INSERT INTO events_reordered (tenant_id, idempotency_key, metric, customer_ref, resource_id, quantity, ts, period, meta, source,
  payload_hash, beyond_window, ingested_at)
SETTINGS distributed_foreground_insert = 1
SELECT tenant_id, idempotency_key, metric, customer_ref, resource_id, quantity, ts, period, meta, source,
  payload_hash, beyond_window, ingested_at
FROM events;

EXCHANGE TABLES {{local:events}} AND {{local:events_reordered}} {{on_cluster}};

-- The old table, now under the new one's name (on a cluster, the table in front of it first).
DROP TABLE IF EXISTS events_reordered {{on_cluster}} SYNC;

DROP TABLE IF EXISTS {{local:events_reordered}} {{on_cluster}} SYNC;
