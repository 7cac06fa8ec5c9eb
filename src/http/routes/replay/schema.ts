import { z } from 'zod';
import { customerRefSchema, metricSchema, tenantIdSchema } from '../../../ingest/event.js';
import { replayModes, replayStatuses } from '../../../storage/queries/replay.js';
import { nextCursorSchema, pageQuery } from '../../pagination.js';

export const replaySchema = z.strictObject({
  tenantId: tenantIdSchema,
  metrics: z.array(metricSchema).min(1, 'name at least one metric').max(100).transform((m) => [...new Set(m)]),
  customerRefs: z.array(customerRefSchema).max(10_000).optional().transform((c) => [...new Set(c ?? [])]),
  since: z.string().min(1).max(64),
  until: z.string().min(1).max(64).default('now'),
  mode: z.enum(['dry-run', 'apply']),
});

export const listReplaysQuerySchema = z.strictObject({
  tenantId: tenantIdSchema.optional().describe("default: the key's tenant; every tenant's for the service admin key"),
  status: z.enum(replayStatuses).optional(),
  mode: z.enum(replayModes).optional(),
  ...pageQuery,
});

export const replayIdSchema = z.strictObject({ id: z.string().regex(/^rpl_[0-9a-f]{16}$/, 'not a replay id') });

// Responses, described for the OpenAPI spec.
export const replayRunSchema = z.looseObject({
  id: z.string(),
  tenantId: z.string(),
  mode: z.enum(replayModes),
  status: z.enum(replayStatuses),
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
export const replayRunListSchema = z.strictObject({
  runs: z.array(
    z.strictObject({
      id: z.string(),
      tenantId: z.string(),
      mode: z.enum(replayModes),
      status: z.enum(replayStatuses),
      progress: z.number(),
      metrics: z.array(z.string()),
      customers: z.number().int().describe('how many customerRefs the replay was limited to; 0: all'),
      window: z.strictObject({ since: z.string(), until: z.string() }).describe('the window replayed, widened to whole counter hours'),
      summary: z
        .strictObject({
          items: z.number().int(),
          changed: z.number().int(),
          eventsScanned: z.number().int(),
          lateEvents: z.number().int(),
          duplicateEvents: z.number().int(),
          delta: z.string().describe('signed decimal'),
          stripeDelta: z.number().int(),
        })
        .nullable()
        .describe("the result's summary; null until the run succeeded. Its items are at GET /v1/replay/{id}"),
      correctionsWritten: z.number().int(),
      error: z.string().nullable(),
      createdBy: z.string(),
      startedAt: z.string(),
      finishedAt: z.string().nullable(),
    }),
  ),
  nextCursor: nextCursorSchema,
});
