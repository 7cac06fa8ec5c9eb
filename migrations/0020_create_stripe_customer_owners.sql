-- Which tenant owns a Stripe customer: the first to bind it, for good. Two tenants on one customer would put one's
-- usage on the other's bill and count the other's usage in their reconciliation; and the owner keeps it after
-- re-pointing its customerRef, because its usage stays in that customer's Stripe totals.
-- Written only by a claim (src/stripe/mappings.ts): a check, then an insert whose deduplication token is the
-- customer id, so of two concurrent claims (even from two processes) the engine keeps one row; the window holds far
-- more claims than can race. Readers take the earliest row, which also decides between tenants that bound the same
-- customer before this table existed.
CREATE TABLE IF NOT EXISTS stripe_customer_owners {{on_cluster}} (
  stripe_customer_id String,
  tenant_id LowCardinality(String),
  stripe_account String DEFAULT '',
  claimed_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = MergeTree
ORDER BY stripe_customer_id
SETTINGS non_replicated_deduplication_window = 10000;

INSERT INTO stripe_customer_owners (stripe_customer_id, tenant_id, claimed_at)
SELECT stripe_customer_id, argMin(tenant_id, (created_at, tenant_id)), min(created_at)
FROM customer_mappings FINAL
WHERE deleted = 0 AND stripe_customer_id != ''
GROUP BY stripe_customer_id;
