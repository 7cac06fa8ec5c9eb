import { z } from 'zod';
import { instantSchema } from '../../../time/range.js';
import { customerRefSchema, metricSchema, tenantIdSchema } from '../../../ingest/event.js';

export const maxBatchEvents = 10_000;
export const maxBodyBytes = 5 * 1024 * 1024;

/** The envelope only: each event is validated on its own so a bad one is reported by index and the rest go in. */
export const ingestBodySchema = z.strictObject({
  events: z.array(z.unknown()).min(1, 'must hold at least 1 event').max(maxBatchEvents, `must hold at most ${maxBatchEvents} events`),
});

/** A CloudEvents batch: a JSON array of CloudEvents, each mapped and checked on its own. */
export const cloudEventsBatchSchema = z
  .array(z.unknown())
  .min(1, 'must hold at least 1 event')
  .max(maxBatchEvents, `must hold at most ${maxBatchEvents} events`);

export const eventsQuerySchema = z.strictObject({
  tenantId: tenantIdSchema,
  metric: metricSchema.optional(),
  customerRef: customerRefSchema.optional(),
  since: instantSchema.optional(),
  until: instantSchema.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(512).optional(),
  lateness: z.enum(['beyond', 'replayed', 'counted']).optional(),
});

// Responses, described for the OpenAPI spec.
const eventErrorSchema = z.strictObject({
  code: z.enum(['invalid_event', 'timestamp_out_of_range', 'conflict']),
  message: z.string(),
  field: z.string().optional(),
});

export const ingestResponseSchema = z.strictObject({
  accepted: z.number().int(),
  duplicates: z.number().int(),
  rejected: z.number().int(),
  requestId: z.string(),
  results: z.array(
    z.strictObject({
      index: z.number().int(),
      idempotencyKey: z.string().nullable(),
      status: z.enum(['accepted', 'duplicate', 'rejected']),
      lateness: z.enum(['late', 'beyond_window']).optional(),
      error: eventErrorSchema.optional(),
    }),
  ),
});

export const eventsListSchema = z.strictObject({
  tenantId: z.string(),
  events: z.array(
    z.strictObject({
      idempotencyKey: z.string(),
      metric: z.string(),
      customerRef: z.string(),
      resourceId: z.string(),
      quantity: z.string().describe('exact decimal'),
      ts: z.string(),
      period: z.string(),
      meta: z.record(z.string(), z.string()),
      source: z.string(),
      lateness: z.enum(['counted', 'beyond_window', 'replayed']),
      ingestedAt: z.string(),
    }),
  ),
  nextCursor: z.string().nullable(),
});
