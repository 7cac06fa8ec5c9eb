import { z } from 'zod';
import { tenantIdSchema } from '../../../ingest/event.js';

export const pushStatusQuerySchema = z.strictObject({ tenantId: tenantIdSchema });
export const pushRunSchema = z.strictObject({ tenantId: tenantIdSchema });

// Responses, described for the OpenAPI spec.
export const pushStatusSchema = z.strictObject({
  tenantId: z.string(),
  stripe: z.looseObject({ mode: z.string() }),
  lastCycleAt: z.string().nullable(),
  summary: z.record(z.string(), z.number().int()),
  items: z.array(z.looseObject({ metric: z.string(), customerRef: z.string(), period: z.string(), status: z.string(), localTotal: z.string() })),
});
export const pushCycleSchema = z.looseObject({
  tenantId: z.string(),
  startedAt: z.string(),
  items: z.number().int(),
  acked: z.number().int(),
  failed: z.number().int(),
});
