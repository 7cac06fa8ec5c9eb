-- Responses of POST requests sent with an Idempotency-Key header, per caller (API key id) and key, kept 24 hours:
-- the same key with the same request answers the first response again; with another request, 409.
-- One row per (caller, key): the first response is kept (ReplacingMergeTree keeps the earliest by its version).
CREATE TABLE IF NOT EXISTS idempotency_keys {{on_cluster}} (
  caller String,
  idempotency_key String,
  request_hash String,
  status UInt16,
  response String,
  created_at DateTime64(3, 'UTC') DEFAULT now64(3),
  -- Newest row wins in ReplacingMergeTree: the negated time makes the first response the one kept.
  version Int64 DEFAULT -toUnixTimestamp64Milli(created_at)
) ENGINE = ReplacingMergeTree(version)
ORDER BY (caller, idempotency_key)
TTL toDateTime(created_at) + INTERVAL 1 DAY;
