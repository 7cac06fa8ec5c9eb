-- Whether a metric of a tenant has any stored event (counted or not): its meter definition is then fixed.
SELECT count() > 0 AS stored
FROM (SELECT 1 FROM events WHERE tenant_id = {tenantId:String} AND metric = {metric:String} LIMIT 1)
