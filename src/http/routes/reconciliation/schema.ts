import { z } from 'zod';
import { metricSchema, tenantIdSchema } from '../../../ingest/event.js';
import { periodSchema } from '../../../time/range.js';

export const summaryQuerySchema = z.strictObject({
  tenantId: tenantIdSchema,
  metric: metricSchema.optional(),
  period: periodSchema.optional(),
});

export const runSchema = z.strictObject({ tenantId: tenantIdSchema, metric: metricSchema.optional() });

export const runIdSchema = z.strictObject({ id: z.string().regex(/^rec_[0-9a-f]{16}$/, 'not a reconciliation run id') });

// Responses, described for the OpenAPI spec.
export const reconRunSchema = z.looseObject({
  id: z.string(),
  tenantId: z.string(),
  metric: z.string().nullable(),
  status: z.enum(['running', 'succeeded', 'failed']),
  periods: z.array(z.string()),
  items: z.array(z.looseObject({ metric: z.string(), customerRef: z.string(), period: z.string(), status: z.string() })),
});
export const reconSummarySchema = z.looseObject({
  tenantId: z.string(),
  metric: z.string().nullable(),
  runId: z.string(),
  withinEpsilon: z.boolean(),
  counts: z.record(z.string(), z.number().int()),
  items: z.array(z.looseObject({ metric: z.string(), customerRef: z.string(), period: z.string(), status: z.string() })),
});
