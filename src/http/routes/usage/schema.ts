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
