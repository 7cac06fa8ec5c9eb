-- push_history: every push intent sent (or about to be sent) to Stripe, in its current state: pending (outcome not
-- known yet), acked, failed (Stripe refused it: last_error), superseded, expired or stuck. value is the meter event's
-- whole units (negative: a correction); base_total -> target_total is what it moves the pushed total from and to.
-- Part of migration 0012_create_analyst_views: never edit this file, add a new one and a migration that includes it.
CREATE OR REPLACE VIEW push_history {{on_cluster}} AS
SELECT
  identifier,
  tenant_id,
  metric,
  customer_ref,
  period,
  seq,
  meter_id,
  stripe_customer_id,
  base_total,
  target_total,
  value,
  event_ts,
  status,
  attempts,
  last_error,
  last_error_code,
  last_http_status,
  created_at,
  updated_at
FROM push_log FINAL;
