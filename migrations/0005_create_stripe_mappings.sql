-- Which Stripe meter bills a (tenant, metric), and which Stripe customer a customerRef is. Rows are versioned:
-- an update or delete is a new row with a higher version, and readers take the newest (FINAL).
CREATE TABLE IF NOT EXISTS price_mappings {{on_cluster}} (
  tenant_id LowCardinality(String),
  metric LowCardinality(String),
  meter_id String,
  event_name String,
  active UInt8 DEFAULT 1,
  deleted UInt8 DEFAULT 0,
  created_at DateTime64(3, 'UTC') DEFAULT now64(3),
  updated_at DateTime64(3, 'UTC') DEFAULT now64(3),
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant_id, metric);

CREATE TABLE IF NOT EXISTS customer_mappings {{on_cluster}} (
  tenant_id LowCardinality(String),
  customer_ref String,
  stripe_customer_id String,
  subscription_item_id String DEFAULT '',
  deleted UInt8 DEFAULT 0,
  created_at DateTime64(3, 'UTC') DEFAULT now64(3),
  updated_at DateTime64(3, 'UTC') DEFAULT now64(3),
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant_id, customer_ref);
