import { isClickHouseError, isStorageUnavailable, StorageUnavailableError } from '../storage/errors.js';

/**
 * What can go wrong with an analyst's query, as the API reports it. `sql_refused`: the statement would write, change a
 * setting or reach outside the database; `sql_error`: ClickHouse could not run it (syntax, unknown table or column,
 * bad parameter); `sql_limit`: it ran into the time, row, byte or memory limit; `sql_busy`: too many queries wait.
 */
export type AnalystErrorCode = 'sql_refused' | 'sql_error' | 'sql_limit' | 'sql_busy';

export class AnalystSqlError extends Error {
  constructor(
    readonly code: AnalystErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const refused = new Set(['READONLY', 'ACCESS_DENIED', 'SETTING_CONSTRAINT_VIOLATION', 'QUERY_IS_PROHIBITED', 'FUNCTION_NOT_ALLOWED']);
const refusedCodes = new Set(['164', '497', '452']);
const limits = new Set([
  'TIMEOUT_EXCEEDED',
  'TOO_MANY_ROWS_OR_BYTES',
  'TOO_MANY_ROWS',
  'TOO_MANY_BYTES',
  'MEMORY_LIMIT_EXCEEDED',
  'TOO_SLOW',
  'TOO_LARGE_STRING_SIZE',
  'TOO_LARGE_ARRAY_SIZE',
  'TOO_MANY_COLUMNS',
  'QUERY_WAS_CANCELLED',
]);
const limitCodes = new Set(['159', '396', '158', '307', '241', '160', '131', '128', '161', '394']);
/** ClickHouse's own message without what is not the analyst's business: user name prefixes, versions, stack traces. */
export function cleanMessage(message: string): string {
  return message
    .replace(/\s*Stack trace[\s\S]*$/, '')
    .replace(/\s*\(version [^)]*\)\.?/g, '')
    .replace(/^[\w.-]+: (?=(Cannot execute query in readonly mode|Not enough privileges))/, '')
    .replace(/\s*\n\s*/g, ' ')
    .trim();
}

/** Maps an error of the analyst connection to what the API answers; anything else is the storage's trouble. */
export function classifyError(err: unknown): AnalystSqlError | StorageUnavailableError {
  if (err instanceof AnalystSqlError || err instanceof StorageUnavailableError) return err;
  // Not from ClickHouse (a socket, a closed connection): the storage's trouble, not the analyst's query.
  if (!isClickHouseError(err)) return new StorageUnavailableError((err as Error)?.message ?? String(err));
  const type = err.type ?? '';
  const message = cleanMessage(err.message);
  if (refused.has(type) || refusedCodes.has(err.code)) {
    if (/Cannot modify '[^']+' setting/.test(message)) {
      return new AnalystSqlError('sql_refused', `analyst SQL cannot change settings (the service sets its limits): ${message}`);
    }
    return new AnalystSqlError('sql_refused', `analyst SQL is read-only: ${message}`);
  }
  if (limits.has(type) || limitCodes.has(err.code)) {
    return new AnalystSqlError('sql_limit', `the query hit a limit for analyst SQL: ${message}`);
  }
  if (isStorageUnavailable(err)) return new StorageUnavailableError(`${type || err.code}: ${message}`);
  return new AnalystSqlError('sql_error', message || `ClickHouse error ${err.code}`);
}
