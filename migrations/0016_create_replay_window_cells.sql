-- The replay diff as a parameterized view (sql/replay/window_cells.sql), so a replay's report and its counter
-- corrections are computed from one definition inside the engine. Before, the service fetched the diff's cells
-- and sent them back as an INSERT: for 10,000 late events that round trip cost 60-70 ms of an apply.
{{include:replay/window_cells.sql}}
