-- Items a reconciliation reads from Stripe: every (metric, customer, period) of the tenant in the given periods with
-- local usage or a push behind it, whose metric maps to a meter and whose customer maps to a Stripe customer.
SELECT DISTINCT
  i.metric AS metric, i.customer_ref AS customerRef, i.period AS period,
  m.meter_id AS meterId, c.stripe_customer_id AS stripeCustomerId
FROM (
  SELECT metric, customer_ref, period FROM usage_period_counters
  WHERE tenant_id = {tenantId:String} AND period IN {periods:Array(String)} AND ({metric:String} = '' OR metric = {metric:String})
  UNION ALL
  SELECT metric, customer_ref, period FROM pushed_totals FINAL
  WHERE tenant_id = {tenantId:String} AND period IN {periods:Array(String)} AND ({metric:String} = '' OR metric = {metric:String})
) AS i
INNER JOIN (SELECT metric, meter_id FROM price_mappings FINAL WHERE tenant_id = {tenantId:String} AND deleted = 0 AND active = 1) AS m
  ON m.metric = i.metric
INNER JOIN (SELECT customer_ref, stripe_customer_id FROM customer_mappings FINAL WHERE tenant_id = {tenantId:String} AND deleted = 0) AS c
  ON c.customer_ref = i.customer_ref
ORDER BY metric, customerRef, period
