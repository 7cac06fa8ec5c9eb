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
