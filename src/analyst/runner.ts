import type { ClickHouseClient } from '@clickhouse/client';
import { AnalystSqlError, classifyError, cleanMessage, isClickHouseError } from './errors.js';
import { checkStatement, hasFormatClause } from './guard.js';

export const outputFormats = ['JSON', 'CSV', 'TSV'] as const;
export type OutputFormat = (typeof outputFormats)[number];
export type ParamValue = string | number | boolean | ParamValue[];
export type AnalystQuery = { query: string; format: OutputFormat; params: Record<string, ParamValue> };
export type Column = { name: string; type: string };
export type AnalystResult =
  | { format: 'JSON'; columns: Column[]; rows: unknown[][]; rowCount: number; elapsedMs: number }
  | { format: 'CSV' | 'TSV'; contentType: string; body: string; elapsedMs: number };

const engineFormat = { JSON: 'JSONCompact', CSV: 'CSVWithNames', TSV: 'TabSeparatedWithNames' } as const;
const contentType = { CSV: 'text/csv; charset=utf-8', TSV: 'text/tab-separated-values; charset=utf-8' } as const;

export type AnalystOptions = { concurrency: number; maxWaiting: number };

/**
 * Runs analysts' SQL on the analyst connection (read-only, with limits: see storage/client.ts). Per query:
 * ClickHouse's parser formats the text (one statement, or refused), the statement is checked (guard.ts), and the
 * formatted statement runs with the caller's parameters. ClickHouse errors become AnalystSqlErrors with clear codes.
 *
 * Embedded mode runs one query at a time: the connection does anyway, and chDB (3.4) hands the partial output of a
 * query that failed midway to the next query on the same connection, so after every failure a throwaway query
 * takes it before anyone else's query runs.
 */
export class AnalystSql {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly client: ClickHouseClient,
    private readonly mode: 'embedded' | 'server',
    private readonly options: AnalystOptions = mode === 'embedded' ? { concurrency: 1, maxWaiting: 8 } : { concurrency: 8, maxWaiting: 16 },
  ) {}

  async run(q: AnalystQuery): Promise<AnalystResult> {
    await this.enter();
    try {
      return await this.execute(q);
    } finally {
      this.leave();
    }
  }

  private async execute(q: AnalystQuery): Promise<AnalystResult> {
    const started = performance.now();
    const statement = await this.format(q.query);
    const refusal = checkStatement(statement);
    if (refusal) throw refusal;
    let text: string;
    try {
      const rs = await this.client.query({ query: statement, format: engineFormat[q.format], query_params: q.params });
      text = await rs.text();
    } catch (err) {
      const e = classifyError(err);
      if (e instanceof AnalystSqlError && e.code === 'sql_error' && hasFormatClause(statement)) {
        throw new AnalystSqlError('sql_error', 'remove the FORMAT clause: the request\'s "format" (JSON, CSV or TSV) chooses the output');
      }
      throw e;
    }
    const elapsedMs = Math.round(performance.now() - started);
    if (q.format !== 'JSON') return { format: q.format, contentType: contentType[q.format], body: text, elapsedMs };
    const doc = JSON.parse(text) as { meta: Column[]; data: unknown[][]; rows: number; exception?: string };
    if (typeof doc.exception === 'string') throw new AnalystSqlError('sql_error', cleanMessage(doc.exception));
    return {
      format: 'JSON',
      columns: doc.meta.map((c) => ({ name: c.name, type: c.type })),
      rows: doc.data,
      rowCount: doc.rows,
      elapsedMs,
    };
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
