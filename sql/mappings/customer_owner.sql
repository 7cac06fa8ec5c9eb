-- The tenant owning a Stripe customer: the earliest claim (see migrations/0020_create_stripe_customer_owners.sql).
SELECT tenant_id AS tenantId
FROM stripe_customer_owners
WHERE stripe_customer_id = {stripeCustomerId:String}
ORDER BY claimed_at, tenant_id
LIMIT 1
