import { z } from 'zod';
import { defineInsert, defineQuery } from './define.js';

/** The first response stored for a caller's Idempotency-Key within 24 hours. */
export const findIdempotentResponse = defineQuery({
  sql: 'idempotency/find_response',
  params: z.object({ caller: z.string(), key: z.string() }),
  row: z.object({ requestHash: z.string(), status: z.number(), response: z.string() }),
});

export const insertIdempotentResponse = defineInsert({
  table: 'idempotency_keys',
  row: z.object({ caller: z.string(), idempotencyKey: z.string(), requestHash: z.string(), status: z.number(), response: z.string() }),
});
