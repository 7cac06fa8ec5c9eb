-- Intents Stripe refused (or that could not be settled), for readiness and alerts.
SELECT count() AS failed
FROM push_log FINAL
WHERE status IN ('failed', 'stuck')
