-- Readiness: the engine answers, within two seconds.
SELECT 1 AS ok SETTINGS max_execution_time = 2
