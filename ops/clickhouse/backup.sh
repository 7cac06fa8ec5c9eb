#!/bin/sh
# One BACKUP of the database to the server's `backups` disk (ops/clickhouse/backups.xml): a full backup on Sundays
# and whenever none exists yet, otherwise incremental on the latest full one. Run by the compose `backup` service
# while the workers are stopped (docs/backup.md, "ClickHouse server"):
#   docker compose -f docker-compose.prod.yml stop workers && \
#   docker compose -f docker-compose.prod.yml --profile backup run --rm backup; \
#   docker compose -f docker-compose.prod.yml start workers
set -eu
db="${CLICKHOUSE_DATABASE:-stripemeter}"
day="$(date -u +%Y-%m-%dT%H%M)"
run() {
  clickhouse-client --host "${CLICKHOUSE_HOST:-clickhouse}" --user "$CLICKHOUSE_USER" --password "$CLICKHOUSE_PASSWORD" --query "$1"
}
if [ "$(date -u +%u)" = 7 ] || [ ! -f /backups/last-full ]; then
  run "BACKUP DATABASE \`$db\` TO Disk('backups', 'full-$day')"
  echo "full-$day" > /backups/last-full
  echo "backup full-$day done"
else
  base="$(cat /backups/last-full)"
  run "BACKUP DATABASE \`$db\` TO Disk('backups', 'incr-$day') SETTINGS base_backup = Disk('backups', '$base')"
  echo "backup incr-$day (base $base) done"
fi
