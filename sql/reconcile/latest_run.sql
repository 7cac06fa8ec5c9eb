-- The newest successful run of a tenant: whose Stripe totals the live summary compares against.
SELECT id, formatDateTime(assumeNotNull(finished_at), '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS finishedAt
FROM reconciliation_runs FINAL
WHERE tenant_id = {tenantId:String} AND status = 'succeeded' AND metric = ''
ORDER BY started_at DESC
LIMIT 1
