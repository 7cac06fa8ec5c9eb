-- The adjustments ledger: signed corrections to a (tenant, metric, customer, period) total. An adjustment counts
-- in local totals and pushes once approved (approved_by set), and keeps counting when reverted: the revert is a
-- linked opposite adjustment, approved at once, so the two cancel out and the history stays readable. Append-only:
-- a status change is a new row version (FINAL reads the current state), never an edit of an amount.
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
  approved_by String DEFAULT '',
  approved_at Nullable(DateTime64(3, 'UTC')),
  updated_by String DEFAULT '',
  updated_at DateTime64(3, 'UTC') DEFAULT now64(3),
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant_id, id);
