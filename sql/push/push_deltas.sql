-- Local totals against what Stripe acknowledged, per (tenant, metric, customer, period).
-- local_total = period counters (a count meter's events, any other metric's quantity) + approved usage adjustments
-- (exact decimals); for a unique_count, max or latest meter, the period's value. `aggregation` is the metric's meter
-- ('' without one). Stripe receives whole units, so target = floor(local_total) and the fractional rest waits.
-- delta = target - pushed_total (negative: a correction); a non-additive item sends its target itself.
-- Summed as Decimal256, which cannot wrap (sum() over Decimal(38, 6) can; docs/totals.md); a target beyond 2^53 - 1
-- is refused by the push job (total_too_large).
-- With onlyChanged = 1 only items with something to send are returned (the push cycle), plus the items named in
-- alsoKeys whatever their delta (items with an open intent); with 0, every item (status).
WITH
  local AS (
    SELECT tenant_id, metric, customer_ref, period, sum(toDecimal256(quantity, 6)) AS local_total
    FROM (
      -- A count meter's usage is its events (docs/meters.md); a sum's is its quantity.
      SELECT c.tenant_id, c.metric, c.customer_ref, c.period, if(a.aggregation = 'count', toDecimal128(c.events, 6), c.quantity) AS quantity
      FROM usage_period_counters AS c
      LEFT JOIN (SELECT tenant_id, metric, aggregation FROM meters FINAL WHERE deleted = 0) AS a
        ON a.tenant_id = c.tenant_id AND a.metric = c.metric
      WHERE ({tenantId:String} = '' OR c.tenant_id = {tenantId:String})
        AND a.aggregation NOT IN ('unique_count', 'max', 'latest')
      UNION ALL
      -- A unique_count, max or latest meter's is the period's value (states merged over the period, every dimension):
      -- pushed as an absolute value to a Stripe `last` meter.
      SELECT s.tenant_id, s.metric, s.customer_ref, s.period,
        multiIf(
          any(a.aggregation) = 'unique_count', toDecimal128(uniqExactMerge(s.distinct_values), 6),
          any(a.aggregation) = 'max', maxMerge(s.maximum),
          argMaxMerge(s.latest)
        ) AS quantity
      FROM meter_period_states AS s
      INNER JOIN (
        SELECT tenant_id, metric, aggregation FROM meters FINAL
        WHERE deleted = 0 AND aggregation IN ('unique_count', 'max', 'latest')
      ) AS a
        ON a.tenant_id = s.tenant_id AND a.metric = s.metric
      WHERE {tenantId:String} = '' OR s.tenant_id = {tenantId:String}
      GROUP BY s.tenant_id, s.metric, s.customer_ref, s.period
      HAVING sum(s.events) != 0
      UNION ALL
      SELECT tenant_id, metric, customer_ref, period, delta AS quantity
      FROM adjustments FINAL
      -- Reconciliation adjustments re-base pushed_totals (what Stripe holds), not usage.
      WHERE approved_by != '' AND reason != 'reconciliation'
        AND ({tenantId:String} = '' OR tenant_id = {tenantId:String})
    )
    GROUP BY tenant_id, metric, customer_ref, period
  ),
  pushed AS (
    SELECT tenant_id, metric, customer_ref, period, pushed_total, seq
    FROM pushed_totals FINAL
    WHERE {tenantId:String} = '' OR tenant_id = {tenantId:String}
  ),
  items AS (
    SELECT
      if(l.tenant_id = '', p.tenant_id, l.tenant_id) AS item_tenant,
      if(l.tenant_id = '', p.metric, l.metric) AS item_metric,
      if(l.tenant_id = '', p.customer_ref, l.customer_ref) AS item_customer,
      if(l.tenant_id = '', p.period, l.period) AS item_period,
      l.local_total AS local_total,
      toInt128(floor(l.local_total)) AS target,
      p.pushed_total AS pushed,
      p.seq AS pushed_seq
    FROM local AS l
    FULL OUTER JOIN pushed AS p
      ON l.tenant_id = p.tenant_id AND l.metric = p.metric AND l.customer_ref = p.customer_ref AND l.period = p.period
  )
SELECT
  item_tenant AS tenantId,
  item_metric AS metric,
  item_customer AS customerRef,
  item_period AS period,
  toString(local_total) AS localTotal,
  target,
  pushed,
  pushed_seq AS seq,
  target - pushed AS delta,
  m.meter_id AS meterId,
  m.event_name AS eventName,
  m.formula AS formula,
  m.customer_payload_key AS customerPayloadKey,
  m.value_payload_key AS valuePayloadKey,
  m.active AS mappingActive,
  c.stripe_customer_id AS stripeCustomerId,
  g.aggregation AS aggregation
FROM items
LEFT JOIN (
  SELECT tenant_id, metric, meter_id, event_name, formula, customer_payload_key, value_payload_key, active
  FROM price_mappings FINAL WHERE deleted = 0
) AS m
  ON m.tenant_id = item_tenant AND m.metric = item_metric
LEFT JOIN (SELECT tenant_id, customer_ref, stripe_customer_id FROM customer_mappings FINAL WHERE deleted = 0) AS c
  ON c.tenant_id = item_tenant AND c.customer_ref = item_customer
LEFT JOIN (SELECT tenant_id, metric, aggregation FROM meters FINAL WHERE deleted = 0) AS g
  ON g.tenant_id = item_tenant AND g.metric = item_metric
WHERE {onlyChanged:UInt8} = 0
   OR target != pushed
   OR (item_tenant, item_metric, item_customer, item_period) IN (
        SELECT (k[1], k[2], k[3], k[4]) FROM (SELECT arrayJoin({alsoKeys:Array(Array(String))}) AS k)
      )
ORDER BY tenantId, metric, customerRef, period
-- join_use_nulls = 0: a missing side reads as '' / 0, which is what an unpushed or unmapped item means.
SETTINGS join_use_nulls = 0
