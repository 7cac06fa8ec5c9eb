-- drift_latest: the latest reconciliation report per item (tenant, metric, customer, period): local total against
-- Stripe's, with status (ok, aligned, drift, unmapped, unpushable), the difference and its likely causes (JSON).
-- One tuple per item is taken with argMax, so a NULL (Stripe total unknown) in the latest report is kept as NULL
-- rather than replaced by an older value; ties on created_at go to the greater run_id.
-- Part of migration 0012_create_analyst_views: never edit this file, add a new one and a migration that includes it.
CREATE OR REPLACE VIEW drift_latest {{on_cluster}} AS
SELECT
  tenant_id,
  metric,
  customer_ref,
  period,
  latest.1 AS run_id,
  latest.2 AS stripe_customer_id,
  latest.3 AS local_total,
  latest.4 AS stripe_total,
  latest.5 AS pushed_total,
  latest.6 AS pending,
  latest.7 AS diff_abs,
  latest.8 AS diff_pct,
  latest.9 AS status,
  latest.10 AS late_events,
  latest.11 AS late_quantity,
  latest.12 AS causes,
  latest.13 AS adjustment_id,
  reported_at
FROM
(
  SELECT
    tenant_id,
    metric,
    customer_ref,
    period,
    argMax(
      tuple(run_id, stripe_customer_id, local_total, stripe_total, pushed_total, pending, diff_abs, diff_pct, status,
            late_events, late_quantity, causes, adjustment_id),
      tuple(created_at, run_id)
    ) AS latest,
    max(created_at) AS reported_at
  FROM reconciliation_reports
  GROUP BY tenant_id, metric, customer_ref, period
);
