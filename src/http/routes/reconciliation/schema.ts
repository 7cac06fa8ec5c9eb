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
