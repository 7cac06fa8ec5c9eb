#!/usr/bin/env bash
# Server mode: creates, or brings up to date, the read-only ClickHouse user analysts' SQL runs as
# (CLICKHOUSE_ANALYST_USER / CLICKHOUSE_ANALYST_PASSWORD in the service's settings).
#
# The user may SELECT the analyst views and tables of the service's database and nothing else: no other table, no
# write, no DDL, and no table function (those need CREATE TEMPORARY TABLE and a source grant such as URL, S3, FILE
# or REMOTE, none of which it has). Its profile holds the limits as constraints (readonly between 1 and 2: reads only,
# but the service may set its limits per request), so neither the service nor a client
# connecting directly can lift them. Running it again replaces the grants and password with what is below.
#
# In the compose stacks ClickHouse runs it once, on its first start (mounted in /docker-entrypoint-initdb.d). On a
# running server: CLICKHOUSE_ANALYST_PASSWORD=... docker compose exec -e CLICKHOUSE_ANALYST_PASSWORD clickhouse \
#   bash /docker-entrypoint-initdb.d/analyst-user.sh
set -euo pipefail

db="${CLICKHOUSE_DB:-stripemeter}"
user="${CLICKHOUSE_ANALYST_USER:-analyst}"
password="${CLICKHOUSE_ANALYST_PASSWORD:?set CLICKHOUSE_ANALYST_PASSWORD (the analyst user password)}"
for name in "$db" "$user"; do
  [[ "$name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || { echo "analyst-user.sh: '$name' is not a plain identifier" >&2; exit 2; }
done
# Only the password's SHA-256 reaches the server and its logs.
hash="$(printf '%s' "$password" | sha256sum | cut -d' ' -f1)"

# What analysts read: the same list as src/analyst/policy.ts (a test keeps the two equal).
views="usage_hourly usage_by_period drift_latest push_history late_events meter_usage_hourly replay_window_cells"
tables="events replayed_events counter_corrections adjustments pushed_totals push_log reconciliation_reports replay_runs price_mappings customer_mappings tenants usage_hourly_counters usage_period_counters meters meter_hourly_states meter_period_states"

{
  echo "CREATE SETTINGS PROFILE OR REPLACE stripemeter_analyst SETTINGS"
  echo "  readonly = 2 MIN 1 MAX 2,"
  echo "  max_execution_time = 10 MAX 60,"
  echo "  max_result_rows = 100000 MAX 1000000,"
  echo "  max_result_bytes = 52428800 MAX 536870912,"
  echo "  max_memory_usage = 1073741824 MAX 4294967296;"
  echo "CREATE USER IF NOT EXISTS ${user} IDENTIFIED WITH sha256_hash BY '${hash}' SETTINGS PROFILE 'stripemeter_analyst';"
  echo "ALTER USER ${user} IDENTIFIED WITH sha256_hash BY '${hash}' SETTINGS PROFILE 'stripemeter_analyst';"
  echo "REVOKE ALL ON *.* FROM ${user};"
  for t in $views $tables; do echo "GRANT SELECT ON ${db}.${t} TO ${user};"; done
} | clickhouse client --user "${CLICKHOUSE_USER:-default}" --password "${CLICKHOUSE_PASSWORD:-}" --multiquery
count="$(echo $views $tables | wc -w)"
echo "analyst-user.sh: ${user} reads ${count} views and tables of ${db}"
