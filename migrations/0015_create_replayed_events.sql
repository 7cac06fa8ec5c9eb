-- Late events a replay has counted: one row per (tenant, idempotency key), written by the replay apply that counted
-- it (sql/replay/mark_replayed.sql). An event beyond the lateness window keeps its events row as stored (flag 1) and
-- is `replayed` once its key is here. This replaces re-inserting the whole event with flag 2, which cost the apply of
-- 10,000 late events 40-55 ms (a full-row read of the month and an INSERT through the counters' views) and left a
-- second version of each such event for every later read to merge; a row here costs a narrow insert, and says which
-- replay counted the event. Rows flagged 2 by earlier versions are copied here below, so readers ask one place.
-- Ordered by time like the replays that look it up (window by window); every version of a key has the same ts.
CREATE TABLE IF NOT EXISTS {{local:replayed_events}} {{on_cluster}} (
  tenant_id LowCardinality(String),
  idempotency_key String,
  ts DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  metric LowCardinality(String),
  customer_ref String,
  period LowCardinality(String),
  replay_id String,
  replayed_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (tenant_id, ts, idempotency_key);

{{distributed:replayed_events:cityHash64(tenant_id)}};

INSERT INTO replayed_events (tenant_id, idempotency_key, ts, metric, customer_ref, period, replay_id, replayed_at)
SELECT tenant_id, idempotency_key, ts, metric, customer_ref, period, '', ingested_at
FROM events FINAL
WHERE beyond_window = 2;

{{include:views/late_events_replayed.sql}}
