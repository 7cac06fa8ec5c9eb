-- usage_hourly: usage per UTC hour and (tenant, metric, customer), from the hourly counters: what
-- GET /v1/usage/history?step=hour reads. quantity is exact (Decimal(38, 6)); events counts the events counted.
-- Events beyond the lateness window are stored but not counted until a replay counts them (see late_events).
-- Counter rows are merged in the background, so the view sums them; an hour whose quantity and event count are both
-- zero (a replay removed what was there) is left out, as the API leaves it out.
-- Part of migration 0012_create_analyst_views: never edit this file, add a new one and a migration that includes it.
CREATE OR REPLACE VIEW usage_hourly {{on_cluster}} AS
SELECT
  tenant_id,
  metric,
  customer_ref,
  hour,
  sum(quantity) AS quantity,
  sum(events) AS events
FROM usage_hourly_counters
GROUP BY tenant_id, metric, customer_ref, hour
HAVING events != 0 OR quantity != 0;
