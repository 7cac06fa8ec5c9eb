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

// Responses, described for the OpenAPI spec.
export const replayRunSchema = z.looseObject({
  id: z.string(),
  tenantId: z.string(),
  mode: z.enum(['dry-run', 'apply']),
  status: z.enum(['running', 'succeeded', 'failed', 'interrupted']),
  progress: z.number(),
  result: z.looseObject({}).nullable(),
  error: z.string().nullable(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
});
export const startedReplaySchema = replayRunSchema.extend({
  widened: z.strictObject({ since: z.string(), until: z.string() }).describe('how far the window was widened to whole counter hours'),
  statusUrl: z.string().optional(),
});
