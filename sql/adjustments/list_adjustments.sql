-- Adjustments in their current state (newest row version), filtered; '' matches any value. Newest first, paged by
-- a (created second, id) keyset: created_at is kept to the second, since later row versions carry it as read.
SELECT
  id, tenant_id AS tenantId, metric, customer_ref AS customerRef, period, toString(delta) AS delta, reason, note, status,
  reverts_id AS revertsId, created_by AS createdBy,
  formatDateTime(created_at, '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS createdAt,
  approved_by AS approvedBy,
  if(isNull(approved_at), '', formatDateTime(assumeNotNull(approved_at), '%Y-%m-%dT%H:%i:%SZ', 'UTC')) AS approvedAt,
  updated_by AS updatedBy,
  formatDateTime(updated_at, '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS updatedAt
FROM adjustments FINAL
WHERE ({tenantId:String} = '' OR tenant_id = {tenantId:String})
  AND ({id:String} = '' OR id = {id:String})
  AND ({metric:String} = '' OR metric = {metric:String})
  AND ({customerRef:String} = '' OR customer_ref = {customerRef:String})
  AND ({period:String} = '' OR period = {period:String})
  AND ({status:String} = '' OR status = {status:String})
  AND ({reason:String} = '' OR reason = {reason:String})
  AND ({beforeId:String} = '' OR (toUnixTimestamp(created_at), id) < ({beforeSecond:Int64}, {beforeId:String}))
ORDER BY toUnixTimestamp(created_at) DESC, id DESC
LIMIT {limit:UInt32}
