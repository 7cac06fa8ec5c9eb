import type { ClickHouseClient } from '@clickhouse/client';
import { AstDumpError, readAstDump, type AstNode } from './ast.js';
import { AnalystSqlError, classifyError, cleanMessage } from './errors.js';
import { isClickHouseError } from '../storage/errors.js';
import { checkStatement, statementKind } from './guard.js';
import { loadAnalystPolicy, type AnalystPolicy } from './policy.js';

export const outputFormats = ['JSON', 'CSV', 'TSV'] as const;
export type OutputFormat = (typeof outputFormats)[number];
export type ParamValue = string | number | boolean | ParamValue[];
export type AnalystQuery = { query: string; format: OutputFormat; params: Record<string, ParamValue> };
export type Column = { name: string; type: string };
/**
 * A result ready to send. `chunks` yields the body in pieces cut from the engine's text, so a large result is never
 * parsed into objects or copied into a second whole string.
 */
export type AnalystResult = { contentType: string; chunks: () => Iterable<string>; rowCount: number | null; bytes: number; elapsedMs: number };

const engineFormat = { JSON: 'JSONCompactEachRowWithNamesAndTypes', CSV: 'CSVWithNames', TSV: 'TabSeparatedWithNames' } as const;
const contentType = { JSON: 'application/json; charset=utf-8', CSV: 'text/csv; charset=utf-8', TSV: 'text/tab-separated-values; charset=utf-8' } as const;

export type AnalystOptions = { concurrency: number; maxWaiting: number };

/**
 * Runs analysts' SQL on the analyst connection (read-only, with limits: see storage/client.ts). Per query:
 * 1. ClickHouse's parser writes the statement back (one statement, or refused);
 * 2. `EXPLAIN AST` gives the engine's parse, with the caller's parameters in place, and guard.ts decides on it;
 * 3. a statement with parameters is bound by the engine (`EXPLAIN SYNTAX`), parsed and checked again, and the bound
 *    text runs without parameters. The embedded engine runs every query with parameters one at a time across all
 *    connections (its parameter state is process-wide), so an analyst query with parameters would hold up ingest and
 *    the API for as long as it runs; binding takes milliseconds, the query itself then runs beside everything else.
 * Nothing of the analyst's query runs before the guard has passed its parse: EXPLAIN AST only parses.
 *
 * Embedded mode runs one query at a time: the connection does anyway, and chDB (3.4) hands the partial output of a
 * query that failed midway to the next query on the same connection (storage/client.ts clears it).
 */
export class AnalystSql {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private policy: Promise<AnalystPolicy> | null = null;

  private readonly client: ClickHouseClient;
  private readonly options: AnalystOptions;

  constructor(
    private readonly setup: {
      /** The read-only analyst connection with the limits. */
      client: ClickHouseClient;
      /** A connection without analyst limits, to read the function list and the catalog (more rows than a result may have). */
      catalog: ClickHouseClient;
      mode: 'embedded' | 'server';
      options?: AnalystOptions;
      /** Texts that must never appear in an answer (the admin key, the Stripe key): cut from engine messages as a last guard. */
      secrets?: string[];
    },
  ) {
    this.client = setup.client;
    this.options = setup.options ?? (setup.mode === 'embedded' ? { concurrency: 1, maxWaiting: 8 } : { concurrency: 8, maxWaiting: 16 });
  }

  async run(q: AnalystQuery): Promise<AnalystResult> {
    await this.enter();
    try {
      return await this.execute(q);
    } catch (err) {
      throw this.redact(classifyError(err));
    } finally {
      this.leave();
    }
  }

  private async execute(q: AnalystQuery): Promise<AnalystResult> {
    const started = performance.now();
    const policy = await this.loadPolicy();
    const statement = await this.format(q.query);
    const kind = statementKind(statement);
    const hasParams = Object.keys(q.params).length > 0;
    const tree = await this.parse(statement, q.params);
    const refusal = checkStatement(tree, policy, kind);
    if (refusal) throw refusal;
    let runnable = statement;
    if (hasParams) {
      if (tree.label !== 'SelectWithUnionQuery' && tree.label !== 'SelectIntersectExceptQuery') {
        throw new AnalystSqlError('sql_refused', 'query parameters are taken in SELECT statements only');
      }
      runnable = await this.bind(statement, q.params);
      const bound = checkStatement(await this.parse(runnable, {}), policy, kind);
      if (bound) throw bound;
    }
    const rs = await this.client.query({ query: runnable, format: engineFormat[q.format] });
    const text = await rs.text();
    const elapsedMs = Math.round(performance.now() - started);
    return q.format === 'JSON' ? jsonResult(text, elapsedMs) : textResult(q.format, text, elapsedMs);
  }

  private loadPolicy(): Promise<AnalystPolicy> {
    this.policy ??= loadAnalystPolicy(this.setup.catalog).catch((err) => {
      this.policy = null;
      throw err;
    });
    return this.policy;
  }

  /** One statement as ClickHouse's parser writes it back; a syntax error or a second statement stops here. */
  private async format(query: string): Promise<string> {
    try {
      const rs = await this.client.query({
        query: 'SELECT formatQuerySingleLine({q:String}) AS q',
        query_params: { q: query },
        format: 'JSONEachRow',
      });
      const rows = await rs.json<{ q: string }>();
      if (rows.length !== 1 || typeof rows[0]!.q !== 'string') throw new Error('unexpected answer from formatQuerySingleLine');
      return rows[0]!.q;
    } catch (err) {
      if (!isClickHouseError(err)) throw classifyError(err);
      // The message quotes the wrapper query; the analyst's text is what it is about.
      const message = cleanMessage(err.message).replace(/:?\s*In scope SELECT formatQuerySingleLine[\s\S]*$/, '');
      if (/Multi-statements are not allowed/i.test(message)) {
        throw new AnalystSqlError('sql_refused', `analyst SQL runs one statement per request: ${message}`);
      }
      if (/^Empty query/i.test(message)) throw new AnalystSqlError('sql_error', 'the query is empty');
      throw classifyError(Object.assign(err, { message }));
    }
  }

  /**
   * The engine's parse of one statement, parameters substituted. The statement is the parser's own single-statement
   * rendering from format(): EXPLAIN AST in front of it parses exactly that statement and runs nothing.
   */
  private async parse(statement: string, params: Record<string, ParamValue>): Promise<AstNode> {
    const dump = await this.explain(`EXPLAIN AST ${statement}`, params);
    try {
      return readAstDump(dump);
    } catch (err) {
      if (err instanceof AstDumpError) {
        throw new AnalystSqlError('sql_refused', 'analyst SQL could not be checked: quoted names holding line breaks or parentheses are not supported');
      }
      throw err;
    }
  }

  /**
   * Runs an EXPLAIN and returns its text. Through `exec`, not `query`: the client appends `FORMAT x` to a query's
   * text, which EXPLAIN would take as part of the statement it explains; the output format goes as an option instead.
   */
  private async explain(query: string, params: Record<string, ParamValue>): Promise<string> {
    const rs = await this.client.exec({
      query,
      clickhouse_settings: { default_format: 'TabSeparatedRaw' },
      ...(Object.keys(params).length > 0 ? { query_params: params } : {}),
    });
    const parts: Buffer[] = [];
    for await (const part of rs.stream) parts.push(part as Buffer);
    return Buffer.concat(parts).toString('utf8');
  }

  /** The statement with its parameters bound by the engine, as SQL text (values rendered and escaped by ClickHouse). */
  private async bind(statement: string, params: Record<string, ParamValue>): Promise<string> {
    // run_query_tree_passes = 0: names resolved and parameters bound, no rewriting of the query.
    return (await this.explain(`EXPLAIN SYNTAX run_query_tree_passes = 0 ${statement}`, params)).trimEnd();
  }

  /** Cuts any secret text from an error's message: a last guard behind the allow-list. */
  private redact<E extends Error>(err: E): E {
    for (const secret of this.setup.secrets ?? []) {
      if (secret.length >= 8 && err.message.includes(secret)) err.message = err.message.split(secret).join('[redacted]');
    }
    return err;
  }

  private async enter(): Promise<void> {
    if (this.running < this.options.concurrency) {
      this.running++;
      return;
    }
    if (this.waiting.length >= this.options.maxWaiting) {
      throw new AnalystSqlError('sql_busy', `${this.running + this.waiting.length} analyst queries are running or waiting; retry shortly`);
    }
    // leave() hands its slot over: running stays counted.
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private leave(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running--;
  }
}

/** Line ends of `text`, without splitting it. */
function* lines(text: string, from = 0): Generator<[number, number]> {
  let start = from;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    yield [start, end];
    start = end + 1;
  }
}

/**
 * JSON answer from JSONCompactEachRowWithNamesAndTypes: the first two lines (names, types) become `columns`, each
 * further line is one row array, copied through as the engine wrote it (decimals and 64-bit integers quoted by the
 * session's settings).
 */
function jsonResult(text: string, elapsedMs: number): AnalystResult {
  const it = lines(text);
  const names = JSON.parse(sliceOf(text, it.next().value)) as string[];
  const types = JSON.parse(sliceOf(text, it.next().value)) as string[];
  const bodyStart = (text.indexOf('\n', text.indexOf('\n') + 1) + 1) || text.length;
  let rowCount = 0;
  for (const _ of lines(text, bodyStart)) rowCount++;
  const head = `{"columns":${JSON.stringify(names.map((name, i) => ({ name, type: types[i] })))},"rows":[`;
  const tail = `],"rowCount":${rowCount},"elapsedMs":${elapsedMs}}`;
  return {
    contentType: contentType.JSON,
    rowCount,
    bytes: head.length + text.length - bodyStart + tail.length,
    elapsedMs,
    *chunks() {
      yield head;
      let first = true;
      let batch: string[] = [];
      for (const [start, end] of lines(text, bodyStart)) {
        batch.push(first ? text.slice(start, end) : `,${text.slice(start, end)}`);
        first = false;
        if (batch.length === 1000) {
          yield batch.join('');
          batch = [];
        }
      }
      if (batch.length > 0) yield batch.join('');
      yield tail;
    },
  };
}

function sliceOf(text: string, range: [number, number] | void): string {
  if (!range) throw new Error('the engine answered without a header');
  return text.slice(range[0], range[1]);
}

/** CSV and TSV as the engine wrote them (a CSV field may hold line breaks, so rows are not counted here). */
function textResult(format: 'CSV' | 'TSV', text: string, elapsedMs: number): AnalystResult {
  return { contentType: contentType[format], rowCount: null, bytes: text.length, elapsedMs, chunks: () => [text] };
}
