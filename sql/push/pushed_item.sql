-- One item's acknowledged total and whether a push for it is still open (its outcome unknown).
SELECT
  (SELECT pushed_total FROM pushed_totals FINAL
   WHERE tenant_id = {tenantId:String} AND metric = {metric:String} AND customer_ref = {customerRef:String} AND period = {period:String}) AS pushed,
  (SELECT seq FROM pushed_totals FINAL
   WHERE tenant_id = {tenantId:String} AND metric = {metric:String} AND customer_ref = {customerRef:String} AND period = {period:String}) AS seq,
  (SELECT count() FROM push_log FINAL
   WHERE tenant_id = {tenantId:String} AND metric = {metric:String} AND customer_ref = {customerRef:String} AND period = {period:String}
     AND status = 'pending') AS open
