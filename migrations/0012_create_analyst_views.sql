-- Views for analysts (docs/analysts.md), read through POST /v1/sql or a read-only ClickHouse user. Each view's one
-- source is its file in sql/views/, inlined here by the migration runner and covered by this migration's checksum:
-- to change a view, add a new file (CREATE OR REPLACE VIEW keeps the name) and a new migration that includes it.
{{include:views/usage_hourly.sql}}
{{include:views/usage_by_period.sql}}
{{include:views/drift_latest.sql}}
{{include:views/push_history.sql}}
{{include:views/late_events.sql}}
