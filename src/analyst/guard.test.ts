import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { AnalystSqlError, AnalystStorageError, classifyError, cleanMessage } from './errors.js';
import { checkStatement, hasFormatClause, statementKind } from './guard.js';
import { analystServerSettings, analystSetStatements } from './settings.js';

const chError = (code: string, type: string, message: string) => Object.assign(new Error(message), { code, type });

describe('checkStatement (on the text formatQuerySingleLine returns)', () => {
  it('lets reads through', () => {
    for (const s of [
      'SELECT 1',
      'WITH 1 AS x SELECT x',
      'SHOW TABLES',
      'DESCRIBE TABLE usage_hourly',
      'EXPLAIN SELECT 1',
      'EXISTS TABLE events',
      "SELECT * FROM usage_hourly WHERE tenant_id = {t:String}",
      'SELECT profile FROM t', // a column whose name contains "file"
      "SELECT 'file' AS f, filesystemAvailable() AS free, myfile(1)",
    ]) {
      expect(checkStatement(s), s).toBeNull();
    }
  });

  it('refuses every other statement kind, naming it', () => {
    for (const [s, kind] of [
      ['INSERT INTO t FORMAT Values', 'INSERT'],
      ['ALTER TABLE t DELETE WHERE 1', 'ALTER'],
      ['SYSTEM FLUSH LOGS', 'SYSTEM'],
      ['KILL QUERY WHERE 1 ASYNC', 'KILL'],
      ['OPTIMIZE TABLE t FINAL', 'OPTIMIZE'],
      ['GRANT SELECT ON *.* TO x', 'GRANT'],
      ['BACKUP TABLE t TO Disk(\'d\', \'x\')', 'BACKUP'],
      ['CHECK TABLE t', 'CHECK'],
    ]) {
      const e = checkStatement(s!);
      expect(e, s).toBeInstanceOf(AnalystSqlError);
      expect(e!.code).toBe('sql_refused');
      expect(e!.message).toBe(
        `analyst SQL is read-only: ${kind} statements are refused; send one SELECT, WITH, SHOW, DESCRIBE, EXPLAIN or EXISTS statement`,
      );
    }
    expect(checkStatement('SET readonly = 0')!.message).toMatch(/^analyst SQL cannot change settings: SET is refused/);
  });

  it('refuses INTO OUTFILE and functions that read the host', () => {
    expect(checkStatement("SELECT 1 INTO OUTFILE '/tmp/x' FORMAT CSV")!.message).toMatch(/INTO OUTFILE is refused/);
    expect(checkStatement("SELECT file('/etc/passwd')")!.message).toMatch(/file\(\) is refused/);
    expect(checkStatement("SELECT * FROM file('/etc/passwd', 'LineAsString')")!.message).toMatch(/file\(\) is refused/);
    expect(checkStatement("SELECT arrayMap(x -> file(x), ['/a'])")!.message).toMatch(/file\(\) is refused/);
    expect(checkStatement("SELECT catboostEvaluate('/m.bin', 1)")!.message).toMatch(/catboostEvaluate\(\) is refused/);
  });

  it('finds the kind behind parentheses and a FORMAT clause at the end', () => {
    expect(statementKind('(SELECT 1) UNION ALL (SELECT 2)')).toBe('SELECT');
    expect(statementKind('')).toBe('');
    expect(hasFormatClause('SELECT 1 FORMAT CSV')).toBe(true);
    expect(hasFormatClause('SELECT 1 FORMAT JSON SETTINGS max_threads = 1')).toBe(true);
    expect(hasFormatClause('SELECT format FROM t')).toBe(false);
  });
});

describe('classifyError', () => {
  it('maps read-only refusals, limits and other ClickHouse errors to 400 codes', () => {
    expect(classifyError(chError('164', 'READONLY', 'default: Cannot execute query in readonly mode. '))).toEqual(
      new AnalystSqlError('sql_refused', 'analyst SQL is read-only: Cannot execute query in readonly mode.'),
    );
    const setting = classifyError(chError('164', 'READONLY', "Cannot modify 'max_result_rows' setting in readonly mode. "));
    expect(setting).toMatchObject({ code: 'sql_refused', message: expect.stringMatching(/^analyst SQL cannot change settings/) });
    expect(classifyError(chError('497', 'ACCESS_DENIED', 'analyst: Not enough privileges.'))).toMatchObject({ code: 'sql_refused' });
    for (const [code, type] of [['159', 'TIMEOUT_EXCEEDED'], ['396', 'TOO_MANY_ROWS_OR_BYTES'], ['241', 'MEMORY_LIMIT_EXCEEDED'], ['160', 'TOO_SLOW']]) {
      expect(classifyError(chError(code!, type!, 'limit'))).toMatchObject({ code: 'sql_limit', message: 'the query hit a limit for analyst SQL: limit' });
    }
    expect(classifyError(chError('62', 'SYNTAX_ERROR', 'Syntax error: failed at position 1'))).toEqual(
      new AnalystSqlError('sql_error', 'Syntax error: failed at position 1'),
    );
  });

  it('leaves ClickHouse trouble and non-ClickHouse failures to the service (503)', () => {
    expect(classifyError(chError('202', 'TOO_MANY_SIMULTANEOUS_QUERIES', 'too many'))).toBeInstanceOf(AnalystStorageError);
    expect(classifyError(chError('516', 'AUTHENTICATION_FAILED', 'bad password'))).toBeInstanceOf(AnalystStorageError);
    expect(classifyError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBeInstanceOf(AnalystStorageError);
  });

  it('keeps only ClickHouse message text an analyst needs', () => {
    expect(cleanMessage('Unknown table x (version 24.8.1.1). Stack trace:\n0. DB::Exception...')).toBe('Unknown table x');
    expect(cleanMessage('line one\n  line two ')).toBe('line one line two');
  });
});

describe('analyst settings', () => {
  const config = loadConfig({ SQL_MAX_EXECUTION_TIME: 'PT2.5S', SQL_MAX_RESULT_ROWS: '500', SQL_MAX_RESULT_BYTES: '2048', SQL_MAX_MEMORY_USAGE: '1048576' });

  it('reads the limits from the environment with their defaults', () => {
    expect(config.sql).toEqual({ maxExecutionMs: 2500, maxResultRows: 500, maxResultBytes: 2048, maxMemoryBytes: 1048576 });
    expect(loadConfig({}).sql).toEqual({ maxExecutionMs: 10_000, maxResultRows: 100_000, maxResultBytes: 50 * 2 ** 20, maxMemoryBytes: 2 ** 30 });
    expect(() => loadConfig({ SQL_MAX_RESULT_ROWS: '0' })).toThrow(/SQL_MAX_RESULT_ROWS/);
    expect(() => loadConfig({ SQL_MAX_EXECUTION_TIME: '10' })).toThrow(/SQL_MAX_EXECUTION_TIME/);
  });

  it('embedded: limits first, readonly last', () => {
    expect(analystSetStatements(config.sql)).toEqual([
      "SET max_execution_time = 2.5, timeout_overflow_mode = 'throw'",
      "SET max_result_rows = 500, result_overflow_mode = 'throw'",
      'SET max_result_bytes = 2048',
      'SET max_memory_usage = 1048576',
      'SET output_format_json_quote_decimals = 1, output_format_json_quote_64bit_integers = 1',
      'SET readonly = 1',
    ]);
  });

  it('server: the same settings on every request, read-only, answering only once the query finished', () => {
    expect(analystServerSettings(config.sql)).toEqual({
      max_execution_time: 2.5,
      timeout_overflow_mode: 'throw',
      max_result_rows: 500,
      result_overflow_mode: 'throw',
      max_result_bytes: 2048,
      max_memory_usage: 1048576,
      output_format_json_quote_decimals: 1,
      output_format_json_quote_64bit_integers: 1,
      readonly: 1,
      wait_end_of_query: 1,
    });
  });
});
