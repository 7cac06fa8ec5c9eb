-- The adjustments ledger: signed corrections to a (tenant, metric, customer, period) total. Only approved
-- adjustments count in local totals and pushes. Append-only: a status change is a new row with a higher version
-- (the history stays in the table until merges; FINAL reads the current state), and a revert is a linked
-- opposite adjustment, never an edit.
CREATE TABLE IF NOT EXISTS adjustments {{on_cluster}} (
  id String,
  tenant_id LowCardinality(String),
  metric LowCardinality(String),
  customer_ref String,
  period LowCardinality(String),
  delta Decimal(38, 6),
  reason LowCardinality(String),
  note String DEFAULT '',
  status LowCardinality(String),
  reverts_id String DEFAULT '',
  created_by String DEFAULT '',
  created_at DateTime64(3, 'UTC') DEFAULT now64(3),
  updated_by String DEFAULT '',
  updated_at DateTime64(3, 'UTC') DEFAULT now64(3),
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant_id, id);
