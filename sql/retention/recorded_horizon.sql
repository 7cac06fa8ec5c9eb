-- The highest retention cutoff ever recorded (no row: retention never ran).
SELECT toUnixTimestamp64Milli(cutoff) AS cutoff_ms
FROM retention_horizons
ORDER BY cutoff DESC
LIMIT 1
