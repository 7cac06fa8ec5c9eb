import { z } from 'zod';
import { toClickHouseTime } from '../time.js';
import { defineQuery } from './define.js';

/** Decimals leave SQL as text, so no total is ever rounded through a float. */
export const decimalText = z.string().regex(/^-?\d+(\.\d+)?$/);

/** Per-customer totals of one metric in one billing period; customerRef '' for every customer. */
export const periodTotals = defineQuery({
  sql: 'usage/period_totals',
  params: z.object({ tenantId: z.string(), metric: z.string(), period: z.string(), customerRef: z.string().default('') }),
  row: z.object({ customerRef: z.string(), total: decimalText, eventCount: z.string() }),
});

/** Usage per hour or per day (in `timezone`) over [since, until). */
export const usageHistory = defineQuery({
  sql: 'usage/history',
  params: z.object({
    tenantId: z.string(),
    metric: z.string(),
    customerRef: z.string().default(''),
    since: z.date().transform((d) => toClickHouseTime(d.getTime())),
    until: z.date().transform((d) => toClickHouseTime(d.getTime())),
    step: z.enum(['hour', 'day']),
    timezone: z.string(),
  }),
  row: z.object({ start: z.string(), total: decimalText, eventCount: z.string() }),
});
