import { Readable } from 'node:stream';
import type { ClickHouseClient } from '@clickhouse/client';
import { z } from 'zod';
import { storageError } from '../errors.js';
import { renderStatement, type RenderTarget } from '../render.js';
import { loadSql } from '../sql.js';

/**
 * The data-access layer's three shapes. Each statement is declared once, beside its `sql/<area>/<name>.sql` file,
 * with a zod schema for its parameters and one for its rows, so a renamed column fails loudly instead of reading as
 * undefined. Column names are mapped here and nowhere else: snake_case columns arrive as camelCase fields, camelCase
 * insert fields leave as snake_case columns. A failure that means "storage unavailable" becomes
 * StorageUnavailableError; any other stays what it is (a fault in the statement is a bug, not a retry).
 */

type Params = z.ZodType<Record<string, unknown>>;

/** Where a page of a newest-first list starts (its statement's beforeSecond, beforeId): after the row of this second and id. */
export type Before = { second: number; id: string };

export type Query<In, Out> = ((client: ClickHouseClient, params: In) => Promise<Out[]>) & { sql: string };
/** `target`: for statements on a cluster's per-shard tables (`{{on_cluster}}`, as migrations render them). */
export type Command<In> = ((client: ClickHouseClient, params: In, target?: RenderTarget) => Promise<void>) & { sql: string };
export type Insert<In> = ((client: ClickHouseClient, rows: In[], settings?: InsertSettings) => Promise<void>) & { table: string };

export const snakeToCamel = (name: string) => name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
export const camelToSnake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * Rows as objects with camelCase keys, from a JSONCompact result: the column names arrive once (in `meta`), not once
 * per row as JSONEachRow repeats them, and the whole result is one JSON.parse. On 100,000 reconciliation items this
 * took a third off fetch + parse + zod (about 990 ms to 660 ms, with 300 ms of that the engine).
 */
export function compactRows(result: { meta?: Array<{ name: string }>; data: unknown[] }): Record<string, unknown>[] {
  const names = (result.meta ?? []).map((m) => snakeToCamel(m.name));
  const width = names.length;
  const out = new Array<Record<string, unknown>>(result.data.length);
  for (let r = 0; r < result.data.length; r++) {
    const values = result.data[r] as unknown[];
    const row: Record<string, unknown> = {};
    for (let i = 0; i < width; i++) row[names[i]!] = values[i];
    out[r] = row;
  }
  return out;
}

/** A SELECT returning rows (JSONCompact), parsed by `row` and optionally shaped by `map`. */
export function defineQuery<P extends Params, R extends z.ZodType, T = z.output<R>>(spec: {
  sql: string;
  params: P;
  row: R;
  map?: (row: z.output<R>) => T;
}): Query<z.input<P>, T> {
  const rows = z.array(spec.row);
  const run = async (client: ClickHouseClient, input: z.input<P>): Promise<T[]> => {
    const query_params = spec.params.parse(input);
    let raw: Record<string, unknown>[];
    try {
      const rs = await client.query({ query: loadSql(spec.sql), query_params, format: 'JSONCompact' });
      raw = compactRows(await rs.json<unknown[]>());
    } catch (err) {
      throw storageError(err);
    }
    const parsed = rows.parse(raw);
    return spec.map ? parsed.map(spec.map) : (parsed as T[]);
  };
  return Object.assign(run, { sql: spec.sql });
}

/** A statement without rows (INSERT ... SELECT, ALTER ... DELETE). */
export function defineCommand<P extends Params>(spec: { sql: string; params: P }): Command<z.input<P>> {
  const run = async (client: ClickHouseClient, input: z.input<P>, target?: RenderTarget): Promise<void> => {
    const query_params = spec.params.parse(input);
    try {
      await client.command({ query: target ? renderStatement(loadSql(spec.sql), target)! : loadSql(spec.sql), query_params });
    } catch (err) {
      throw storageError(err);
    }
  };
  return Object.assign(run, { sql: spec.sql });
}

/** Rows into one table: each checked by `row` (camelCase fields), written as the table's snake_case columns. */
/**
 * Settings of one INSERT (insert_deduplication_token...). They go into the statement's own SETTINGS clause, never
 * with the call: settings passed with a call stay on an embedded connection's session and would apply to its later
 * statements (measured). Values are numbers or plain tokens, so they can sit in the statement text.
 */
export type InsertSettings = Record<string, number | string>;

function settingsClause(settings: InsertSettings): string {
  const parts = Object.entries(settings).map(([name, value]) => {
    if (!/^[a-z_]+$/.test(name)) throw new Error(`not a setting name: ${JSON.stringify(name)}`);
    if (typeof value === 'number' && Number.isFinite(value)) return `${name} = ${value}`;
    if (typeof value === 'string' && /^[A-Za-z0-9_:.-]+$/.test(value)) return `${name} = '${value}'`;
    throw new Error(`setting ${name}: only numbers and plain tokens`);
  });
  return parts.length > 0 ? ` SETTINGS ${parts.join(', ')}` : '';
}

export function defineInsert<S extends z.ZodRawShape>(spec: { table: string; row: z.ZodObject<S> }): Insert<z.input<z.ZodObject<S>>> {
  const columns = Object.keys(spec.row.shape).map((field) => [field, camelToSnake(field)] as const);
  const run = async (client: ClickHouseClient, rows: Array<z.input<z.ZodObject<S>>>, settings?: InsertSettings): Promise<void> => {
    if (rows.length === 0) return;
    const values = rows.map((input) => {
      const row = spec.row.parse(input) as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      // A field left undefined is left out: the column takes its default.
      for (const [field, column] of columns) if (row[field] !== undefined) out[column] = row[field];
      return out;
    });
    try {
      if (!settings) {
        await client.insert({ table: spec.table, values, format: 'JSONEachRow' });
      } else {
        const body = values.map((v) => `${JSON.stringify(v)}\n`).join('');
        const result = await client.exec({ query: `INSERT INTO ${spec.table}${settingsClause(settings)} FORMAT JSONEachRow`, values: Readable.from([body]) });
        result.stream.resume();
      }
    } catch (err) {
      throw storageError(err);
    }
  };
  return Object.assign(run, { table: spec.table });
}
