-- late_events: events that arrived more than LATENESS_WINDOW behind their counter's watermark. lateness is
-- 'beyond_window' (stored, not counted: replay the window or record an adjustment) or 'replayed' (counted since by a
-- replay). recorded_at is when the current row version was written: at ingest, or at the replay that counted it.
-- Late events inside the window are counted at once and not listed here.
-- Part of migration 0012_create_analyst_views: never edit this file, add a new one and a migration that includes it.
CREATE OR REPLACE VIEW late_events {{on_cluster}} AS
SELECT
  tenant_id,
  metric,
  customer_ref,
  idempotency_key,
  resource_id,
  quantity,
  ts,
  period,
  multiIf(beyond_window = 1, 'beyond_window', 'replayed') AS lateness,
  source,
  ingested_at AS recorded_at
FROM events FINAL
WHERE beyond_window IN (1, 2);
