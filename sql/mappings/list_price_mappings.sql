SELECT
  tenant_id AS tenantId, metric, meter_id AS meterId, event_name AS eventName, formula,
  customer_payload_key AS customerPayloadKey, value_payload_key AS valuePayloadKey, active = 1 AS active,
  formatDateTime(created_at, '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS createdAt,
  formatDateTime(updated_at, '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS updatedAt
FROM price_mappings FINAL
WHERE tenant_id = {tenantId:String}
  AND ({metric:String} = '' OR metric = {metric:String})
  AND deleted = 0
ORDER BY metric
