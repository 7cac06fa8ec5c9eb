SELECT
  tenant_id AS tenantId, customer_ref AS customerRef, stripe_customer_id AS stripeCustomerId,
  subscription_item_id AS subscriptionItemId,
  formatDateTime(created_at, '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS createdAt,
  formatDateTime(updated_at, '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS updatedAt
FROM customer_mappings FINAL
WHERE tenant_id = {tenantId:String}
  AND ({customerRef:String} = '' OR customer_ref = {customerRef:String})
  AND deleted = 0
ORDER BY customer_ref
