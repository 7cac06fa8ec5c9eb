-- Cutoffs of the raw-event retention job (src/lifecycle/retention.ts): rows of `events` and `replayed_events` older
-- than a cutoff may be gone. A row is written before the job drops anything, and only when the cutoff rises, so
-- max(cutoff) never goes down; replay, which recomputes counters from raw events, refuses a window starting before
-- it. Counters, meter states, event_keys and the ledgers are never dropped.
CREATE TABLE IF NOT EXISTS retention_horizons {{on_cluster}} (
  cutoff DateTime64(3, 'UTC'),
  recorded_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = MergeTree
ORDER BY cutoff;
