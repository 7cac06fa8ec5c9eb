import { z } from 'zod';
import { chInt } from '../schema.js';
import { defineInsert, defineQuery } from './define.js';

/**
 * Ingest's reads and writes beside the events themselves. Two stay in the ingest code on purpose: the events INSERT
 * and the key lookup (src/ingest/writer.ts) run per request group, where a zod parse per row would cost ingest CPU;
 * the key-hash scan (src/ingest/dedupe/key-index.ts) streams millions of 8-byte rows that never become objects.
 */

/** Stored watermarks (epoch ms) of one tenant's counters, named `metric \0 customerRef`. */
export const lookupWatermarks = defineQuery({
  sql: 'ingest/lookup_watermarks',
  params: z.object({ tenantId: z.string(), keys: z.array(z.string()) }),
  row: z.object({ metric: z.string(), customerRef: z.string(), watermark: chInt }),
});

export const insertWatermarks = defineInsert({
  table: 'watermarks',
  row: z.object({ tenantId: z.string(), metric: z.string(), customerRef: z.string(), watermark: z.string() }),
});

/** The identity of the event_keys table (database and UUID): a key filter snapshot of another table is stale. */
export const eventKeysTable = defineQuery({ sql: 'ingest/event_keys_table', params: z.object({}), row: z.object({ id: z.string() }) });

/** Keys per tenant inserted since `since` (epoch seconds); tenantId '' for every tenant. */
export const keyCounts = defineQuery({
  sql: 'ingest/key_counts',
  params: z.object({ since: z.number().int().nonnegative(), tenantId: z.string() }),
  row: z.object({ tenantId: z.string(), keys: chInt }),
});
