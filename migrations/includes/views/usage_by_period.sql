-- usage_by_period: usage per billing period (YYYY-MM in the tenant's time zone) and (tenant, metric, customer),
-- from the period counters: what GET /v1/usage reads. quantity is exact (Decimal(38, 6)). Counters only: approved
-- adjustments are in the adjustments table (docs/analysts.md shows the billed total with them).
-- Part of migration 0012_create_analyst_views: never edit this file, add a new one and a migration that includes it.
CREATE OR REPLACE VIEW usage_by_period {{on_cluster}} AS
SELECT
  tenant_id,
  metric,
  customer_ref,
  period,
  sum(quantity) AS quantity,
  sum(events) AS events
FROM usage_period_counters
GROUP BY tenant_id, metric, customer_ref, period
HAVING events != 0 OR quantity != 0;
