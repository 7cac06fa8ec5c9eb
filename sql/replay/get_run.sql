-- One replay run (newest row version), visible to its tenant or, with tenantId '', to the service admin.
SELECT id, tenant_id, mode, request, status, progress, result, error, created_by,
  formatDateTime(started_at, '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS started_at,
  if(isNull(finished_at), '', formatDateTime(assumeNotNull(finished_at), '%Y-%m-%dT%H:%i:%SZ', 'UTC')) AS finished_at
FROM replay_runs FINAL
WHERE id = {id:String} AND ({tenantId:String} = '' OR tenant_id = {tenantId:String})
