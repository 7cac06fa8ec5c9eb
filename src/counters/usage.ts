import type { ClickHouseClient } from '@clickhouse/client';
import { z } from 'zod';
import { loadSql } from '../storage/sql.js';
import { toClickHouseTime } from '../storage/time.js';

const decimalText = z.string().regex(/^-?\d+(\.\d+)?$/);

// Each query: zod params in, zod rows out, so a column renamed in SQL fails loudly instead of returning undefined.
export const periodTotalsParams = z.object({
  tenantId: z.string(),
  metric: z.string(),
  period: z.string(),
  customerRef: z.string().default(''),
});
export const periodTotalRow = z.object({ customerRef: z.string(), total: decimalText, eventCount: z.string() });

export function getPeriodTotals(client: ClickHouseClient) {
  return async (input: z.input<typeof periodTotalsParams>) => {
    const rs = await client.query({
      query: loadSql('usage/period_totals'),
      query_params: periodTotalsParams.parse(input),
      format: 'JSONEachRow',
    });
    return z.array(periodTotalRow).parse(await rs.json());
  };
}

export const historyParams = z.object({
  tenantId: z.string(),
  metric: z.string(),
  customerRef: z.string().default(''),
  since: z.date(),
  until: z.date(),
  step: z.enum(['hour', 'day']),
  timezone: z.string(),
});
export const historyRow = z.object({ start: z.string(), total: decimalText, eventCount: z.string() });

export function getUsageHistory(client: ClickHouseClient) {
  return async (input: z.input<typeof historyParams>) => {
    const p = historyParams.parse(input);
    const rs = await client.query({
      query: loadSql('usage/history'),
      query_params: { ...p, since: toClickHouseTime(p.since.getTime()), until: toClickHouseTime(p.until.getTime()) },
      format: 'JSONEachRow',
    });
    return z.array(historyRow).parse(await rs.json());
  };
}
