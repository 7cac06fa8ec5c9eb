import type { ClickHouseSettings } from '@clickhouse/client';

/** What one analyst query may use. From SQL_MAX_EXECUTION_TIME, SQL_MAX_RESULT_ROWS, SQL_MAX_RESULT_BYTES, SQL_MAX_MEMORY_USAGE, SQL_MAX_THREADS. */
export type AnalystLimits = { maxExecutionMs: number; maxResultRows: number; maxResultBytes: number; maxMemoryBytes: number; maxThreads: number };

type Value = number | string;

/**
 * The analyst session's settings in the order they are set: the limits (and exact JSON numbers) first, `readonly = 1`
 * last, because a read-only session can change no setting afterwards. Read-only also refuses a query's own
 * `SETTINGS` clause, so an analyst cannot lift a limit.
 */
export function analystSettingGroups(l: AnalystLimits): Array<Record<string, Value>> {
  return [
    { max_execution_time: l.maxExecutionMs / 1000, timeout_overflow_mode: 'throw' },
    { max_result_rows: l.maxResultRows, result_overflow_mode: 'throw' },
    { max_result_bytes: l.maxResultBytes },
    // The embedded engine shares the process with ingest: a query that would hold more memory fails instead.
    { max_memory_usage: l.maxMemoryBytes },
    // ...and its cores: a query on every core would slow ingest as surely as a lock would.
    { max_threads: l.maxThreads },
    // Decimals and 64-bit integers leave JSON as strings, so no total is rounded through a float.
    { output_format_json_quote_decimals: 1, output_format_json_quote_64bit_integers: 1 },
    { readonly: 1 },
  ];
}

const literal = (v: Value) => (typeof v === 'number' ? String(v) : `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`);

/** Embedded mode: `SET` statements run once on the analyst connection; the session keeps them until it closes. */
export function analystSetStatements(l: AnalystLimits): string[] {
  return analystSettingGroups(l).map(
    (group) => `SET ${Object.entries(group).map(([k, v]) => `${k} = ${literal(v)}`).join(', ')}`,
  );
}

/**
 * Server mode: the same settings on every request of the analyst client (HTTP settings last one request, and the
 * server applies a request's settings together, so `readonly` among them does not block the others).
 * `wait_end_of_query` makes the server finish the query before answering, so an error never arrives as the tail of
 * a 200 response.
 */
export function analystServerSettings(l: AnalystLimits): ClickHouseSettings {
  return Object.assign({}, ...analystSettingGroups(l), { wait_end_of_query: 1 }) as ClickHouseSettings;
}
