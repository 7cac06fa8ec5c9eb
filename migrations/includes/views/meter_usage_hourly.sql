-- meter_usage_hourly: the value of each metric with a meter per UTC hour, customer and dimension values, from the
-- hourly meter states (docs/meters.md): a sum of quantity, a count of events, a distinct count, a maximum or the latest
-- quantity, per the meter's aggregation. Sums and counts add up across hours and dimensions; distinct counts, maxima
-- and latest values do not: read meter_hourly_states or meter_period_states and merge the states (uniqExactMerge,
-- maxMerge, argMaxMerge) for a day or a period, as the API does.
-- Part of migration 0033_create_meter_views: never edit this file, add a new one and a migration that includes it.
CREATE OR REPLACE VIEW meter_usage_hourly {{on_cluster}} AS
SELECT
  s.tenant_id AS tenant_id,
  s.metric AS metric,
  m.aggregation AS aggregation,
  s.customer_ref AS customer_ref,
  s.hour AS hour,
  s.period AS period,
  s.dimensions AS dimensions,
  multiIf(
    m.aggregation = 'count', toDecimal128(sum(s.events), 6),
    m.aggregation = 'unique_count', toDecimal128(uniqExactMerge(s.distinct_values), 6),
    m.aggregation = 'max', maxMerge(s.maximum),
    m.aggregation = 'latest', argMaxMerge(s.latest),
    sum(s.quantity)
  ) AS value,
  sum(s.events) AS events
FROM meter_hourly_states AS s
LEFT JOIN (SELECT tenant_id, metric, aggregation FROM meters FINAL WHERE deleted = 0) AS m
  ON m.tenant_id = s.tenant_id AND m.metric = s.metric
GROUP BY tenant_id, metric, aggregation, customer_ref, hour, period, dimensions
HAVING events != 0;
