import type { ClickHouseClient } from '@clickhouse/client';
import { z } from 'zod';
import { loadSql } from '../storage/sql.js';
import { toClickHouseTime } from '../storage/time.js';
import { aggregations } from './definitions.js';

const decimalText = z.string().regex(/^-?\d+(\.\d+)?$/);

// Each query: zod params in, zod rows out, so a column renamed in SQL fails loudly instead of returning undefined.
export const periodValuesParams = z.object({
  tenantId: z.string(),
  metric: z.string(),
  period: z.string(),
  customerRef: z.string().default(''),
  aggregation: z.enum(['unique_count', 'max', 'latest']),
});
export const periodValueRow = z.object({
  customerRef: z.string(),
  isTotal: z.number(),
  value: decimalText,
  eventCount: z.string(),
});

/** A non-additive meter's values in one billing period: per customer, and the row with isTotal 1 over all of them. */
export function getPeriodValues(client: ClickHouseClient) {
  return async (input: z.input<typeof periodValuesParams>) => {
    const rs = await client.query({
      query: loadSql('meters/period_values'),
      query_params: periodValuesParams.parse(input),
      format: 'JSONEachRow',
    });
    return z.array(periodValueRow).parse(await rs.json());
  };
}

export const usageWindows = ['PT1M', 'PT1H', 'P1D', 'billing_period'] as const;
export type UsageWindow = (typeof usageWindows)[number];

export const groupedQueryParams = z.object({
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
});
export const groupedRow = z.object({
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

export function queryGroupedUsage(client: ClickHouseClient) {
  return async (source: GroupedSource, input: z.input<typeof groupedQueryParams>) => {
    const p = groupedQueryParams.parse(input);
    const rs = await client.query({
      query: loadSql(`meters/query_${source}`),
      query_params: {
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
      },
      format: 'JSONEachRow',
    });
    return z.array(groupedRow).parse(await rs.json());
  };
}
