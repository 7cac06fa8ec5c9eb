-- Whether a metric of a tenant has any stored event (counted or not): its meter definition is then fixed. Its
-- counters answer too, so a metric whose raw events retention dropped stays fixed.
SELECT count() > 0 AS stored
FROM (
  SELECT 1 FROM events WHERE tenant_id = {tenantId:String} AND metric = {metric:String} LIMIT 1
  UNION ALL
  SELECT 1 FROM usage_period_counters WHERE tenant_id = {tenantId:String} AND metric = {metric:String} LIMIT 1
)
