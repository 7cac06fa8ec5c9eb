-- The analysts' view of meters by dimension (docs/analysts.md, docs/meters.md).
{{include:views/meter_usage_hourly.sql}}
