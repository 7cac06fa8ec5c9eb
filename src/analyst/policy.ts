import type { ClickHouseClient } from '@clickhouse/client';
import { z } from 'zod';
import { loadSql } from '../storage/sql.js';

/** What analysts read: the documented views, and the documented tables under them. Nothing else in the database. */
export const analystViews = ['usage_hourly', 'usage_by_period', 'drift_latest', 'push_history', 'late_events', 'meter_usage_hourly'] as const;
export const analystTables = [
  'events',
  'replayed_events',
  'counter_corrections',
  'adjustments',
  'pushed_totals',
  'push_log',
  'reconciliation_reports',
  'replay_runs',
  'price_mappings',
  'customer_mappings',
  'tenants',
  'usage_hourly_counters',
  'usage_period_counters',
  'meters',
  'meter_hourly_states',
  'meter_period_states',
] as const;
/** Tables outside the service's database that hold nothing but what they compute. */
const harmlessSystemTables = ['system.one', 'system.numbers'] as const;

/**
 * Table functions analysts may use: the parameterised view `replay_window_cells`, and generators that compute their
 * rows. Every other table function reads files, URLs, object stores, other servers or other tables.
 */
export const analystTableFunctions = ['replay_window_cells', 'numbers', 'numbers_mt', 'zeros', 'zeros_mt', 'generate_series', 'generateSeries', 'values'] as const;

/**
 * Function families (the engine's documentation categories) that compute from their arguments alone. Categories
 * left out reach outside the query: `Other` (file(), getSetting(), hostName(), joinGet(), showCertificate()...),
 * `Dictionary`, `Embedded Dictionary`, `AI` (network calls), `Introspection`, `Machine Learning` (models from files),
 * `Internal`, and whatever a future engine version adds, until it is looked at.
 */
const pureCategories = new Set([
  'Aggregate Functions',
  'Arithmetic',
  'Arrays',
  'Bit',
  'Bitmap',
  'Comparison',
  'Conditional',
  'Dates and Times',
  'Distance',
  'Encoding',
  'Financial',
  'Geo',
  'Geo Polygon',
  'Hash',
  'IP Address',
  'JSON',
  'Logical',
  'Map',
  'Mathematical',
  'Null',
  'Random Number',
  'Rounding',
  'String',
  'String Replacement',
  'String Search',
  'String Splitting',
  'Time Window',
  'Tuple',
  'Type Conversion',
  'URL',
  'UUID',
]);

/** Functions of the `Other` and `Internal` families that only compute from their arguments, and syntax the parser writes as functions. */
const pureExtras = new Set([
  'lambda',
  'tuple',
  'array',
  'arrayElement',
  'tupleElement',
  'CAST',
  '_CAST',
  'caseWithExpression',
  'exists',
  'toTypeName',
  'toColumnTypeName',
  'formatReadableSize',
  'formatReadableDecimalSize',
  'formatReadableQuantity',
  'formatReadableTimeDelta',
  'parseReadableSize',
  'parseReadableSizeOrNull',
  'parseReadableSizeOrZero',
  'parseTimeDelta',
  'bar',
  'finalizeAggregation',
  'initializeAggregation',
  'runningAccumulate',
  'runningDifference',
  'runningDifferenceStartingWithFirstValue',
  'neighbor',
  'transform',
  'materialize',
  'ignore',
  'identity',
  'isConstant',
  'isDecimalOverflow',
  'countDigits',
  'byteSize',
  'visibleWidth',
  'throwIf',
  'getSizeOfEnumType',
  'defaultValueOfTypeName',
  'defaultValueOfArgumentType',
  'variantElement',
  'variantType',
  'getSubcolumn',
  'rowNumberInBlock',
  'rowNumberInAllBlocks',
  'blockSize',
]);

const functionRow = z.object({
  name: z.string(),
  alias_to: z.string(),
  categories: z.string(),
  is_aggregate: z.boolean(),
  case_insensitive: z.boolean(),
});
const nameRow = z.object({ name: z.string() });
const catalogRow = z.object({ kind: z.enum(['current', 'database', 'table']), name: z.string() });

export type AnalystPolicy = {
  /** A scalar or aggregate function analysts may call (aliases and aggregate combinators resolved). */
  functionAllowed(name: string): boolean;
  tableFunctionAllowed(name: string): boolean;
  /** A table name as written in FROM/JOIN: an analyst view or table, a harmless system table, or no table at all (a CTE). */
  tableReadable(name: string): boolean;
  /** A name that would read a table analysts may not read (`x IN api_keys`, `system.disks`). */
  namesForbiddenTable(name: string): boolean;
};

async function rows<T>(client: ClickHouseClient, name: string, schema: z.ZodType<T>): Promise<T[]> {
  const rs = await client.query({ query: loadSql(name), format: 'JSONEachRow' });
  return z.array(schema).parse(await rs.json());
}

/** Reads the engine's function list and the database's tables once, on the connection analysts use. */
export async function loadAnalystPolicy(client: ClickHouseClient): Promise<AnalystPolicy> {
  const [functions, combinators, catalog] = await Promise.all([
    rows(client, 'analyst/functions', functionRow),
    rows(client, 'analyst/combinators', nameRow),
    rows(client, 'analyst/catalog', catalogRow),
  ]);
  const named = (kind: string) => catalog.filter((c) => c.kind === kind).map((c) => c.name);
  return buildPolicy(functions, combinators.map((c) => c.name), {
    currentDatabase: named('current')[0] ?? 'default',
    databases: named('database'),
    tables: named('table'),
  });
}

export function buildPolicy(
  functions: z.infer<typeof functionRow>[],
  combinators: string[],
  catalog: { currentDatabase: string; databases: string[]; tables: string[] },
): AnalystPolicy {
  const { currentDatabase, databases, tables } = catalog;
  const byName = new Map(functions.map((f) => [f.name, f]));
  const byLowerName = new Map(functions.filter((f) => f.case_insensitive).map((f) => [f.name.toLowerCase(), f]));
  const pure = (f: z.infer<typeof functionRow> | undefined, seen = 0): boolean => {
    if (!f) return false;
    if (pureExtras.has(f.name)) return true;
    if (f.alias_to) return seen < 4 && pure(byName.get(f.alias_to), seen + 1);
    return f.categories.split(',').some((c) => pureCategories.has(c.trim()));
  };
  const allowed = new Set<string>(pureExtras);
  const allowedLower = new Set<string>();
  const aggregates = new Set<string>();
  for (const f of functions) {
    if (!pure(f)) continue;
    allowed.add(f.name);
    if (f.case_insensitive) allowedLower.add(f.name.toLowerCase());
    if (f.is_aggregate || byName.get(f.alias_to)?.is_aggregate) aggregates.add(f.name);
  }
  const suffixes = [...combinators];
  // sumIf, uniqExactIfState, quantilesMergeState...: combinators on an allowed aggregate.
  const aggregateAllowed = (name: string, depth: number): boolean =>
    aggregates.has(name) ||
    (depth < 4 && suffixes.some((s) => name.length > s.length && name.endsWith(s) && aggregateAllowed(name.slice(0, -s.length), depth + 1)));
  const functionAllowed = (name: string) =>
    allowed.has(name) || allowedLower.has(name.toLowerCase()) || aggregateAllowed(name, 0);

  const readable = new Set<string>([...analystViews, ...analystTables]);
  const ownTables = new Set(tables);
  const databaseNames = new Set(databases);
  const harmless = new Set<string>(harmlessSystemTables);
  const tableFunctions = new Set<string>(analystTableFunctions);
  /** `db.table[.column]` naming a database: readable only for the service's own database's analyst tables. */
  const qualifiedReadable = (parts: string[]) =>
    harmless.has(`${parts[0]}.${parts[1]}`) || (parts[0] === currentDatabase && readable.has(parts[1]!));
  return {
    functionAllowed,
    tableFunctionAllowed: (name) => tableFunctions.has(name),
    tableReadable(name) {
      const parts = name.split('.');
      if (parts.length === 1) return readable.has(name) || !ownTables.has(name);
      return parts.length === 2 && qualifiedReadable(parts);
    },
    namesForbiddenTable(name) {
      const parts = name.split('.');
      if (parts.length === 1) return ownTables.has(name) && !readable.has(name);
      return databaseNames.has(parts[0]!) && !qualifiedReadable(parts);
    },
  };
}
