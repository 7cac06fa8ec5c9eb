import { z } from 'zod';
import { customerRefSchema, metricSchema, tenantIdSchema } from '../../../ingest/event.js';
import { instantSchema, periodSchema } from '../../../time/range.js';
import { usageWindows } from '../../../storage/queries/meters.js';

export const usageQuerySchema = z.strictObject({
  tenantId: tenantIdSchema,
  metric: metricSchema,
  customerRef: customerRefSchema.optional(),
  period: periodSchema.optional(),
});

export const historyQuerySchema = z
  .strictObject({
    tenantId: tenantIdSchema,
    metric: metricSchema,
    customerRef: customerRefSchema.optional(),
    since: instantSchema,
    until: instantSchema,
    step: z.enum(['hour', 'day']).default('hour'),
  })
  .refine((q) => Date.parse(q.since) < Date.parse(q.until), { message: 'since must be before until', path: ['since'] })
  .refine((q) => (Date.parse(q.until) - Date.parse(q.since)) / (q.step === 'hour' ? 3600_000 : 86_400_000) <= 10_000, {
    message: 'window holds more than 10000 steps; narrow it or use step=day',
    path: ['until'],
  });

/** GET /v1/usage/query's own parameters; `filter.<dimension>` ones are read apart (their names are the tenant's). */
export const groupedQuerySchema = z
  .strictObject({
    tenantId: tenantIdSchema,
    metric: metricSchema,
    from: instantSchema,
    to: instantSchema,
    window: z.enum(usageWindows),
    groupBy: z.string().max(1024).optional(),
    customerRef: customerRefSchema.optional(),
    timezone: z.string().max(64).optional(),
  })
  .refine((q) => Date.parse(q.from) < Date.parse(q.to), { message: 'from must be before to', path: ['from'] });

export const filterValueSchema = z.string().max(1024);

// Responses, described for the OpenAPI spec.
const decimal = z.string().regex(/^-?\d+(\.\d+)?$/).describe('exact decimal');
export const usageSchema = z.strictObject({
  tenantId: z.string(),
  metric: z.string(),
  aggregation: z.string(),
  period: z.strictObject({ name: z.string(), timezone: z.string(), start: z.string(), end: z.string() }),
  total: decimal,
  customers: z.array(z.strictObject({ customerRef: z.string(), total: decimal, events: z.number().int() })),
});
export const historySchema = z.strictObject({
  tenantId: z.string(),
  metric: z.string(),
  customerRef: z.string().nullable(),
  step: z.enum(['hour', 'day']),
  timezone: z.string(),
  since: z.string(),
  until: z.string(),
  aggregation: z.string(),
  total: decimal,
  buckets: z.array(z.strictObject({ start: z.string(), total: decimal, events: z.number().int() })),
});
export const groupedUsageSchema = z.strictObject({
  tenantId: z.string(),
  metric: z.string(),
  aggregation: z.string(),
  window: z.enum(usageWindows),
  timezone: z.string(),
  from: z.string(),
  to: z.string(),
  groupBy: z.array(z.string()),
  rows: z.array(
    z.strictObject({
      windowStart: z.string(),
      windowEnd: z.string(),
      customerRef: z.string().optional(),
      dimensions: z.record(z.string(), z.string()),
      value: decimal,
    }),
  ),
});
