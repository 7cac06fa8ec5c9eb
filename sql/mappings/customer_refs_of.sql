-- The customerRefs of a tenant currently bound to a Stripe customer.
SELECT customer_ref AS customerRef
FROM customer_mappings FINAL
WHERE tenant_id = {tenantId:String}
  AND stripe_customer_id = {stripeCustomerId:String}
  AND deleted = 0
ORDER BY customer_ref
