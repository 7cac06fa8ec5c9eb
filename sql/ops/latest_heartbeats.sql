-- Age of each job's latest run, over every workers process.
SELECT job, dateDiff('millisecond', max(last_run_at), now64(3)) AS ageMs, argMax(ok, last_run_at) AS ok
FROM worker_heartbeats
GROUP BY job
