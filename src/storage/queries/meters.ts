import { z } from 'zod';
import { toClickHouseTime } from '../time.js';
import { defineCommand, defineInsert, defineQuery } from './define.js';
import { windowParams } from './replay.js';
import { decimalText } from './usage.js';

export const aggregations = ['sum', 'count', 'unique_count', 'max', 'latest'] as const;
export type Aggregation = (typeof aggregations)[number];

export const meterRow = z.object({
  tenantId: z.string(),
  metric: z.string(),
  aggregation: z.enum(aggregations),
  uniqueBy: z.string(),
  dimensions: z.array(z.string()),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type Meter = z.infer<typeof meterRow>;

/** A tenant's meter definitions; metric '' for all. */
export const listMeters = defineQuery({
  sql: 'meters/list_meters',
  params: z.object({ tenantId: z.string(), metric: z.string() }),
  row: meterRow,
});

/** Whether a metric has stored events (a meter of a metric with events is fixed). */
export const metricHasEvents = defineQuery({
  sql: 'meters/metric_has_events',
  params: z.object({ tenantId: z.string(), metric: z.string() }),
  row: z.object({ stored: z.union([z.boolean(), z.number()]).transform(Boolean) }),
});

export const insertMeter = defineInsert({
  table: 'meters',
  row: z.object({
    tenantId: z.string(),
    metric: z.string(),
    aggregation: z.enum(aggregations),
    uniqueBy: z.string(),
    dimensions: z.array(z.string()),
    deleted: z.union([z.literal(0), z.literal(1)]),
    createdAt: z.string().optional(),
    updatedAt: z.string(),
    version: z.string(),
  }),
});

/** A non-additive meter's values in one billing period: per customer, and the row with isTotal 1 over all of them. */
export const periodValues = defineQuery({
  sql: 'meters/period_values',
  params: z.object({
    tenantId: z.string(),
    metric: z.string(),
    period: z.string(),
    customerRef: z.string().default(''),
    aggregation: z.enum(['unique_count', 'max', 'latest']),
  }),
  row: z.object({ customerRef: z.string(), isTotal: z.number(), value: decimalText, eventCount: z.string() }),
});

export const meterReplayItem = z.object({
  metric: z.string(),
  customerRef: z.string(),
  period: z.string(),
  aggregation: z.enum(['unique_count', 'max', 'latest']),
  before: z.string(),
  after: z.string(),
});
export type MeterReplayItem = z.infer<typeof meterReplayItem>;

/** A non-additive meter's period value before and after a replay merges the window's stored events in. */
export const meterReplayItems = defineQuery({ sql: 'meters/replay_items', params: windowParams, row: meterReplayItem });

/** Writes the window's meter state corrections (idempotent: a second run finds nothing to add). */
export const writeMeterCorrections = defineCommand({ sql: 'meters/write_corrections', params: windowParams });

export const usageWindows = ['PT1M', 'PT1H', 'P1D', 'billing_period'] as const;
export type UsageWindow = (typeof usageWindows)[number];

const groupedParams = z
  .object({
    tenantId: z.string(),
    metric: z.string(),
    aggregation: z.enum(aggregations),
    from: z.date(),
    to: z.date(),
    window: z.enum(usageWindows),
    timezone: z.string(),
    byCustomer: z.boolean(),
    groupBy: z.array(z.string()).max(5),
    filters: z.array(z.tuple([z.string(), z.string()])),
    customerRef: z.string().default(''),
    limit: z.number().int().positive(),
  })
  .transform((p) => ({
    tenantId: p.tenantId,
    metric: p.metric,
    aggregation: p.aggregation,
    from: toClickHouseTime(p.from.getTime()),
    to: toClickHouseTime(p.to.getTime()),
    window: p.window,
    timezone: p.timezone,
    byCustomer: p.byCustomer ? 1 : 0,
    groupBy: p.groupBy,
    filterKeys: p.filters.map(([k]) => k),
    filterValues: p.filters.map(([, v]) => v),
    customerRef: p.customerRef,
    limit: p.limit,
  }));
const groupedRow = z.object({
  windowStart: z.string(),
  windowEnd: z.string(),
  period: z.string(),
  customerRef: z.string(),
  dimensionValues: z.array(z.string()),
  value: decimalText,
});

/**
 * Where a grouped query reads. A metric with a meter: the daily states for days in the tenant's zone and billing
 * periods, the hourly states for hours and days in another zone with a whole-hour offset. One without: the hourly usage
 * counters. Either: the events for minute windows, and hours or days in a zone whose offset is not whole hours.
 */
export type GroupedSource = 'events' | 'daily' | 'states' | 'counters';

export const groupedUsage: Record<GroupedSource, ReturnType<typeof defineQuery<typeof groupedParams, typeof groupedRow>>> = {
  events: defineQuery({ sql: 'meters/query_events', params: groupedParams, row: groupedRow }),
  daily: defineQuery({ sql: 'meters/query_daily', params: groupedParams, row: groupedRow }),
  states: defineQuery({ sql: 'meters/query_states', params: groupedParams, row: groupedRow }),
  counters: defineQuery({ sql: 'meters/query_counters', params: groupedParams, row: groupedRow }),
};
