-- API keys are stored only as SHA-256 hashes of high-entropy secrets: system tables are readable by analysts,
-- so nothing here may be usable as a credential. tenant_id '' marks a cross-tenant (analyst `sql`) key.
CREATE TABLE IF NOT EXISTS api_keys {{on_cluster}} (
  id String,
  tenant_id String,
  key_hash String,
  key_prefix String,
  name String DEFAULT '',
  scopes Array(LowCardinality(String)),
  created_by String DEFAULT '',
  created_at DateTime64(3, 'UTC') DEFAULT now64(3),
  revoked_at Nullable(DateTime64(3, 'UTC')),
  updated_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree(updated_at)
ORDER BY id;
