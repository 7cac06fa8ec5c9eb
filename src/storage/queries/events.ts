import { z } from 'zod';
import { toClickHouseTime } from '../time.js';
import { defineQuery } from './define.js';

/** Stored events for debugging, oldest first, after the (tsMs, idempotencyKey) cursor. Empty filters match all. */
export const listEvents = defineQuery({
  sql: 'events/list_events',
  params: z.object({
    tenantId: z.string(),
    since: z.number().transform((ms) => toClickHouseTime(ms)),
    until: z.number().transform((ms) => toClickHouseTime(ms)),
    metric: z.string(),
    customerRef: z.string(),
    lateness: z.enum(['', 'beyond', 'replayed', 'counted']),
    afterTsMs: z.number().int(),
    afterKey: z.string(),
    limit: z.number().int().positive(),
  }),
  // Output aliases differ from column names: in ClickHouse an alias shadows the column everywhere in the query.
  row: z.object({
    idempotencyKey: z.string(),
    metric: z.string(),
    customerRef: z.string(),
    resourceId: z.string(),
    quantityText: z.string(),
    eventTime: z.string(),
    period: z.string(),
    meta: z.record(z.string(), z.string()),
    source: z.string(),
    lateness: z.enum(['counted', 'beyond_window', 'replayed']),
    ingestedAt: z.string(),
    tsMs: z.union([z.string(), z.number()]).transform(Number),
  }),
  map: ({ quantityText, eventTime, ...r }) => ({ ...r, quantity: quantityText, ts: eventTime }),
});
