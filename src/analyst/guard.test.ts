import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { AnalystSqlError, classifyError, cleanMessage } from './errors.js';
import { StorageUnavailableError } from '../storage/errors.js';
import { AstDumpError, readAstDump, walk } from './ast.js';
import { checkStatement, statementKind } from './guard.js';
import { buildPolicy } from './policy.js';
import { analystServerSettings, analystSetStatements } from './settings.js';

const chError = (code: string, type: string, message: string) => Object.assign(new Error(message), { code, type });

const policy = buildPolicy(
  [
    { name: 'sum', alias_to: '', categories: 'Aggregate Functions', is_aggregate: true, case_insensitive: true },
    { name: 'plus', alias_to: '', categories: 'Arithmetic', is_aggregate: false, case_insensitive: false },
    { name: 'file', alias_to: '', categories: 'Other', is_aggregate: false, case_insensitive: false },
    { name: 'user', alias_to: 'currentUser', categories: '', is_aggregate: false, case_insensitive: false },
    { name: 'currentUser', alias_to: '', categories: 'Other', is_aggregate: false, case_insensitive: false },
    { name: 'ceiling', alias_to: 'ceil', categories: '', is_aggregate: false, case_insensitive: true },
    { name: 'ceil', alias_to: '', categories: 'Rounding', is_aggregate: false, case_insensitive: true },
  ],
  ['If', 'State', 'Merge'],
  { currentDatabase: 'default', databases: ['default', 'system'], tables: ['events', 'usage_hourly', 'api_keys'] },
);

describe('readAstDump', () => {
  it('reads the tree, names, aliases and children', () => {
    const tree = readAstDump(
      'SelectWithUnionQuery (children 1)\n ExpressionList (children 1)\n  SelectQuery (children 2)\n   ExpressionList (children 2)\n' +
        '    Literal UInt64_1 (alias x)\n    Function plus (children 1)\n     ExpressionList (children 2)\n      Identifier a.b\n' +
        "      Literal 'a (children 9)'\n   TablesInSelectQuery (children 1)\n    TablesInSelectQueryElement (children 1)\n" +
        '     TableExpression (children 1)\n      TableIdentifier default.events (alias e)\n',
    );
    const nodes = [...walk(tree)].map((n) => [n.label, n.name, n.alias]);
    expect(nodes).toContainEqual(['Literal', 'UInt64_1', 'x']);
    expect(nodes).toContainEqual(['Literal', "'a (children 9)'", null]);
    expect(nodes).toContainEqual(['TableIdentifier', 'default.events', 'e']);
    expect(nodes).toHaveLength(13);
  });

  it('refuses a dump whose lines do not add up to the announced children (a quoted name with a line break)', () => {
    // SELECT `a\n TableIdentifier x`: the name's second line pretends to be a node.
    expect(() => readAstDump('SelectQuery (children 1)\n ExpressionList (children 1)\n  Identifier a\n TableIdentifier x\n')).toThrow(AstDumpError);
    // An alias announcing children it does not have.
    expect(() => readAstDump('ExpressionList (children 2)\n Literal 1 (alias x) (children 1)\n Literal 2\n')).toThrow(AstDumpError);
    expect(() => readAstDump('ExpressionList (children 1)\n')).toThrow(AstDumpError);
    expect(() => readAstDump('A\nB\n')).toThrow(AstDumpError);
    expect(() => readAstDump('  A\n')).toThrow(AstDumpError);
    expect(() => readAstDump('A (children 1)\n\tB\n')).toThrow(AstDumpError);
  });
});

describe('checkStatement', () => {
  const select = (inner: string) => readAstDump(`SelectWithUnionQuery (children 1)\n ExpressionList (children 1)\n  SelectQuery (children 1)\n   ExpressionList (children 1)\n${inner}`);
  const fn = (name: string) => select(`    Function ${name}\n`);
  const ok = (tree: ReturnType<typeof select>) => checkStatement(tree, policy, 'SELECT');

  it('allows functions of pure families, their aliases and aggregate combinators, in any case where the engine allows it', () => {
    for (const name of ['sum', 'SUM', 'sumIf', 'sumStateIf', 'sumMerge', 'plus', 'ceiling', 'CEIL', 'lambda', 'tuple']) expect(ok(fn(name)), name).toBeNull();
  });

  it('refuses functions outside them, also through an alias, and unknown ones', () => {
    for (const name of ['file', 'user', 'currentUser', 'FILE', 'fileIf', 'nosuch', 'plusIf']) {
      expect(ok(fn(name))?.message, name).toMatch(new RegExp(`does not allow the function ${name}\\(\\)`));
    }
  });

  it('reads only the analyst tables; unknown names may be CTEs; names of other tables are refused anywhere', () => {
    const from = (t: string) => select(`    Asterisk\n`.replace('    Asterisk\n', `    TableIdentifier ${t}\n`));
    expect(ok(from('events'))).toBeNull();
    expect(ok(from('default.events'))).toBeNull();
    expect(ok(from('my_cte'))).toBeNull();
    expect(ok(from('system.one'))).toBeNull();
    for (const t of ['api_keys', 'default.api_keys', 'system.disks', 'system.tables']) {
      expect(ok(from(t))?.code, t).toBe('sql_refused');
      expect(ok(select(`    Identifier ${t}\n`))?.code, t).toBe('sql_refused');
    }
    // A database that does not exist: in FROM refused, as an expression a column of a table alias.
    expect(ok(from('other.events'))?.code).toBe('sql_refused');
    expect(ok(select('    Identifier other.events\n'))).toBeNull();
    expect(ok(select('    Identifier tenant_id\n'))).toBeNull();
    expect(ok(select('    Identifier e.tenant_id\n'))).toBeNull();
  });

  it('refuses statements other than SELECT, DESCRIBE and EXPLAIN, naming them, and SETTINGS, FORMAT and INTO OUTFILE', () => {
    expect(checkStatement(readAstDump('ShowTables\n'), policy, 'SHOW')?.message).toBe(
      'analyst SQL is read-only: SHOW statements are refused; send one SELECT (WITH, UNION and subqueries are fine), DESCRIBE TABLE or EXPLAIN statement',
    );
    expect(checkStatement(readAstDump('SetQuery\n'), policy, 'SET')?.message).toMatch(/^analyst SQL cannot change settings: SET is refused/);
    expect(ok(select('    Set\n'))?.message).toMatch(/SETTINGS clause is refused/);
    const withFormat = readAstDump('SelectWithUnionQuery (children 2)\n ExpressionList (children 1)\n  SelectQuery\n Identifier CSV\n');
    expect(ok(withFormat)?.message).toMatch(/remove the FORMAT or INTO OUTFILE clause/);
    expect(ok(select('    SomethingNew\n'))?.message).toMatch(/does not support this construct \(SomethingNew\)/);
  });

  it('finds the kind behind parentheses', () => {
    expect(statementKind('(SELECT 1) UNION ALL (SELECT 2)')).toBe('SELECT');
    expect(statementKind('')).toBe('');
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
    expect(classifyError(chError('202', 'TOO_MANY_SIMULTANEOUS_QUERIES', 'too many'))).toBeInstanceOf(StorageUnavailableError);
    expect(classifyError(chError('516', 'AUTHENTICATION_FAILED', 'bad password'))).toBeInstanceOf(StorageUnavailableError);
    expect(classifyError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBeInstanceOf(StorageUnavailableError);
  });

  it('keeps only ClickHouse message text an analyst needs', () => {
    expect(cleanMessage('Unknown table x (version 24.8.1.1). Stack trace:\n0. DB::Exception...')).toBe('Unknown table x');
    expect(cleanMessage('line one\n  line two ')).toBe('line one line two');
  });
});

describe('analyst settings', () => {
  const config = loadConfig({ SQL_MAX_EXECUTION_TIME: 'PT2.5S', SQL_MAX_RESULT_ROWS: '500', SQL_MAX_RESULT_BYTES: '2048', SQL_MAX_MEMORY_USAGE: '1048576', SQL_MAX_THREADS: '1' });

  it('reads the limits from the environment with their defaults', () => {
    expect(config.sql).toEqual({ maxExecutionMs: 2500, maxResultRows: 500, maxResultBytes: 2048, maxMemoryBytes: 1048576, maxThreads: 1 });
    expect(loadConfig({}).sql).toMatchObject({ maxExecutionMs: 10_000, maxResultRows: 100_000, maxResultBytes: 50 * 2 ** 20, maxMemoryBytes: 2 ** 30 });
    expect(loadConfig({}).sql.maxThreads).toBe(Math.max(1, Math.floor(os.availableParallelism() / 2)));
    expect(() => loadConfig({ SQL_MAX_RESULT_ROWS: '0' })).toThrow(/SQL_MAX_RESULT_ROWS/);
    expect(() => loadConfig({ SQL_MAX_EXECUTION_TIME: '10' })).toThrow(/SQL_MAX_EXECUTION_TIME/);
  });

  it('embedded: limits first, readonly last', () => {
    expect(analystSetStatements(config.sql)).toEqual([
      "SET max_execution_time = 2.5, timeout_overflow_mode = 'throw'",
      "SET max_result_rows = 500, result_overflow_mode = 'throw'",
      'SET max_result_bytes = 2048',
      'SET max_memory_usage = 1048576',
      'SET max_threads = 1',
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
      max_threads: 1,
      output_format_json_quote_decimals: 1,
      output_format_json_quote_64bit_integers: 1,
      readonly: 1,
      wait_end_of_query: 1,
    });
  });
});
