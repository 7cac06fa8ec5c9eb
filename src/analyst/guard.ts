import { AnalystSqlError } from './errors.js';

/** The statements analyst SQL runs: reads only. */
export const readStatements = ['SELECT', 'WITH', 'SHOW', 'DESCRIBE', 'EXPLAIN', 'EXISTS'] as const;

/**
 * Functions refused although the read-only session would run them. `file()` reads any file on the host in the
 * embedded engine (a chDB session is clickhouse-local, which has no user_files_path sandbox): the admin key file,
 * /proc/self/environ with the Stripe key. catboostEvaluate loads a model from a path.
 */
export const refusedFunctions = ['file', 'catboostEvaluate'] as const;

const refusedCall = new RegExp(`(?:^|[^\\w.\`$])(${refusedFunctions.join('|')})\\(`);

/** The statement's kind: its first keyword, as ClickHouse's formatter writes it (`SELECT`, `INSERT`, `SYSTEM`...). */
export function statementKind(canonical: string): string {
  return /^[\s(]*([A-Za-z]+)/.exec(canonical)?.[1]?.toUpperCase() ?? '';
}

/**
 * Checks one statement as ClickHouse's own parser formatted it (formatQuerySingleLine: comments gone, keywords in
 * capitals, quoted names unquoted), so spelling tricks do not get past it. The read-only session is the real guard
 * against writes and setting changes; this gives them a clear message first and closes what read-only leaves open.
 * A refusal may be a false alarm for a string literal that looks like a refused clause; never the other way round.
 */
export function checkStatement(canonical: string): AnalystSqlError | null {
  const kind = statementKind(canonical);
  const allowed = `send one ${readStatements.slice(0, -1).join(', ')} or ${readStatements.at(-1)} statement`;
  if (kind === 'SET') {
    return new AnalystSqlError('sql_refused', 'analyst SQL cannot change settings: SET is refused (the service sets the limits)');
  }
  if (!(readStatements as readonly string[]).includes(kind)) {
    return new AnalystSqlError('sql_refused', `analyst SQL is read-only: ${kind || 'this'} statements are refused; ${allowed}`);
  }
  if (/\bINTO\s+OUTFILE\b/i.test(canonical)) {
    return new AnalystSqlError('sql_refused', 'analyst SQL is read-only: INTO OUTFILE is refused (it writes a file on the server); choose the output with "format"');
  }
  const fn = refusedCall.exec(canonical)?.[1];
  if (fn) {
    return new AnalystSqlError('sql_refused', `analyst SQL is read-only: ${fn}() is refused (it reads files on the server's host)`);
  }
  return null;
}

/** A FORMAT clause at the end of the statement: the request's `format` chooses the output instead. */
export function hasFormatClause(canonical: string): boolean {
  return /\sFORMAT\s+[A-Za-z]\w*(\s+SETTINGS\s.*)?$/.test(canonical);
}
