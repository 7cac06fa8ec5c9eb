-- The items a run compared, as it reported them.
SELECT metric, customer_ref AS customerRef, stripe_customer_id AS stripeCustomer, period,
  toString(local_total) AS local, if(isNull(stripe_total), NULL, toString(stripe_total)) AS stripe,
  pushed_total AS pushed, pending, if(isNull(diff_abs), NULL, toString(diff_abs)) AS diff_abs, diff_pct, status,
  late_events AS lateCount, toString(late_quantity) AS lateQuantity, causes, adjustment_id AS adjustmentId
FROM reconciliation_reports
WHERE tenant_id = {tenantId:String} AND run_id = {id:String}
ORDER BY metric, customerRef, period
