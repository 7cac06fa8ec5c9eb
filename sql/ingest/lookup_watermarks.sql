-- Stored watermarks of the counters a group commit touches (keys are metric + NUL + customer_ref).
SELECT metric, customer_ref, toUnixTimestamp64Milli(max(watermark)) AS watermark
FROM watermarks
WHERE tenant_id = {tenantId:String}
  AND concat(metric, '\0', customer_ref) IN {keys:Array(String)}
GROUP BY metric, customer_ref
