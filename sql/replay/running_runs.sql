-- Runs still marked running (at start-up: left behind by a process that stopped).
SELECT id, tenant_id, mode, request, status, progress, result, error, created_by,
  formatDateTime(started_at, '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS started_at,
  '' AS finished_at
FROM replay_runs FINAL
WHERE status = 'running'
