-- Rows of a raw table (events, replayed_events) before the cutoff, per month: its partitions (toYYYYMM(ts)). The
-- plain table: on a cluster the Distributed one, so every shard is counted.
SELECT toString(toYYYYMM(ts)) AS month, count() AS rows
FROM {table:Identifier}
WHERE ts < {cutoff:DateTime64(3, 'UTC')}
GROUP BY month
ORDER BY month
