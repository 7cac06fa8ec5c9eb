-- One reconciliation run (newest row version), visible to its tenant or, with tenantId '', to the service admin.
SELECT id, tenant_id AS tenantId, metric, trigger, status, periods, counts, error,
  formatDateTime(started_at, '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS startedAt,
  if(isNull(finished_at), '', formatDateTime(assumeNotNull(finished_at), '%Y-%m-%dT%H:%i:%SZ', 'UTC')) AS finishedAt
FROM reconciliation_runs FINAL
WHERE id = {id:String} AND ({tenantId:String} = '' OR tenant_id = {tenantId:String})
