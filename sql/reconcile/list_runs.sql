-- Reconciliation runs (newest row version), newest first, paged by a (started second, id) keyset; '' matches any
-- value and tenantId '' every tenant. The items stay out: GET /v1/reconciliation/runs/:id has them.
SELECT id, tenant_id AS tenantId, metric, trigger, status, periods, items AS itemCount, counts, error,
  formatDateTime(started_at, '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS startedAt,
  if(isNull(finished_at), '', formatDateTime(assumeNotNull(finished_at), '%Y-%m-%dT%H:%i:%SZ', 'UTC')) AS finishedAt
FROM reconciliation_runs FINAL
WHERE ({tenantId:String} = '' OR tenant_id = {tenantId:String})
  AND ({status:String} = '' OR status = {status:String})
  AND ({trigger:String} = '' OR trigger = {trigger:String})
  AND ({beforeId:String} = '' OR (toUnixTimestamp(started_at), id) < ({beforeSecond:Int64}, {beforeId:String}))
ORDER BY toUnixTimestamp(started_at) DESC, id DESC
LIMIT {limit:UInt32}
