-- Replay runs (newest row version), newest first, paged by a (started second, id) keyset; '' matches any value and
-- tenantId '' every tenant. The request's customers and the result's items stay out: GET /v1/replay/:id has them.
SELECT
  id,
  tenant_id AS tenantId,
  mode,
  status,
  progress,
  JSONExtract(request, 'metrics', 'Array(String)') AS metrics,
  length(JSONExtractArrayRaw(request, 'customerRefs')) AS customers,
  JSONExtractString(request, 'window', 'effective', 'since') AS since,
  JSONExtractString(request, 'window', 'effective', 'until') AS until,
  JSONExtractRaw(result, 'summary') AS summary,
  JSONExtractUInt(result, 'correctionsWritten') AS correctionsWritten,
  error,
  created_by AS createdBy,
  formatDateTime(started_at, '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS startedAt,
  if(isNull(finished_at), '', formatDateTime(assumeNotNull(finished_at), '%Y-%m-%dT%H:%i:%SZ', 'UTC')) AS finishedAt
FROM replay_runs FINAL
WHERE ({tenantId:String} = '' OR tenant_id = {tenantId:String})
  AND ({status:String} = '' OR status = {status:String})
  AND ({mode:String} = '' OR mode = {mode:String})
  AND ({beforeId:String} = '' OR (toUnixTimestamp(started_at), id) < ({beforeSecond:Int64}, {beforeId:String}))
ORDER BY toUnixTimestamp(started_at) DESC, id DESC
LIMIT {limit:UInt32}
