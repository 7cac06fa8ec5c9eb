-- A tenant's meter definitions (newest row version), or one metric's with metric != ''.
SELECT
  tenant_id AS tenantId, metric, aggregation, unique_by AS uniqueBy, dimensions,
  formatDateTime(created_at, '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS createdAt,
  formatDateTime(updated_at, '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS updatedAt
FROM meters FINAL
WHERE tenant_id = {tenantId:String}
  AND ({metric:String} = '' OR metric = {metric:String})
  AND deleted = 0
ORDER BY metric
