-- The replay diff as a parameterized view (sql/replay/window_cells.sql): one definition of a window's cells for
-- replays and for analysts.
{{include:replay/window_cells.sql}}

-- Where a replay keeps its window's cells between its statements: it computes them once (sql/replay/stage_cells.sql),
-- reports them (sql/replay/items.sql), for an apply writes their corrections (sql/replay/write_corrections.sql),
-- then deletes them (sql/replay/drop_cells.sql). Computing the cells again for the corrections, or fetching them and
-- sending them back as an INSERT, cost an apply of 10,000 late events 40-70 ms more (measured). In memory: the rows
-- live for one replay; a restart loses only the cells of replays it interrupted anyway. On a server the table is
-- that node's, so the service's CLICKHOUSE_URL must reach one node, not a balancer in front of several.
CREATE TABLE IF NOT EXISTS replay_cells {{on_cluster}} (
  replay_id String,
  metric LowCardinality(String),
  customer_ref String,
  hour DateTime('UTC'),
  period LowCardinality(String),
  before_quantity Decimal(38, 6),
  before_events Int64,
  after_quantity Decimal(38, 6),
  after_events Int64,
  late_events Int64,
  late_quantity Decimal(38, 6)
) ENGINE = Memory;
