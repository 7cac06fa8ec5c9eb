-- late_events: events that arrived more than LATENESS_WINDOW behind their counter's watermark. lateness is
-- 'beyond_window' (stored, not counted: replay the window or record an adjustment) or 'replayed' (counted since by
-- the replay replay_id; '' for one counted before migration 0015). recorded_at is when the event was stored, or when
-- the replay counted it. Late events inside the window are counted at once and not listed here.
-- Part of migration 0015_create_replayed_events (it replaces late_events.sql of 0012): never edit this file, add a
-- new one and a migration that includes it.
CREATE OR REPLACE VIEW late_events {{on_cluster}} AS
SELECT
  e.tenant_id AS tenant_id,
  e.metric AS metric,
  e.customer_ref AS customer_ref,
  e.idempotency_key AS idempotency_key,
  e.resource_id AS resource_id,
  e.quantity AS quantity,
  e.ts AS ts,
  e.period AS period,
  -- coalesce: an unmatched row reads '' (or NULL where a client turned join_use_nulls on).
  if(coalesce(r.idempotency_key, '') = '', 'beyond_window', 'replayed') AS lateness,
  e.source AS source,
  if(coalesce(r.idempotency_key, '') = '', e.ingested_at, r.replayed_at) AS recorded_at,
  coalesce(r.replay_id, '') AS replay_id
FROM events AS e FINAL
LEFT JOIN (SELECT tenant_id, idempotency_key, replay_id, replayed_at FROM replayed_events FINAL) AS r
  ON r.tenant_id = e.tenant_id AND r.idempotency_key = e.idempotency_key
WHERE e.beyond_window IN (1, 2);
