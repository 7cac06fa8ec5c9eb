import { z } from 'zod';
import { customerRefSchema, metricSchema, tenantIdSchema } from '../../../ingest/event.js';

export const replaySchema = z.strictObject({
  tenantId: tenantIdSchema,
  metrics: z.array(metricSchema).min(1, 'name at least one metric').max(100).transform((m) => [...new Set(m)]),
  customerRefs: z.array(customerRefSchema).max(10_000).optional().transform((c) => [...new Set(c ?? [])]),
  since: z.string().min(1).max(64),
  until: z.string().min(1).max(64).default('now'),
  mode: z.enum(['dry-run', 'apply']),
});

export const replayIdSchema = z.strictObject({ id: z.string().regex(/^rpl_[0-9a-f]{16}$/, 'not a replay id') });
