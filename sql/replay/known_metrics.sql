-- Metrics a tenant has usage or a mapping for: replay refuses others (a typo would otherwise replay nothing).
SELECT DISTINCT metric FROM (
  SELECT metric FROM usage_period_counters WHERE tenant_id = {tenantId:String}
  UNION ALL
  SELECT metric FROM price_mappings FINAL WHERE tenant_id = {tenantId:String} AND deleted = 0
)
