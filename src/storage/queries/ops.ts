import { z } from 'zod';
import { chInt } from '../schema.js';
import { defineInsert, defineQuery } from './define.js';

export const ping = defineQuery({ sql: 'ops/ping', params: z.object({}), row: z.object({ ok: chInt }) });

/** Per background job: the age of its latest run over every workers process, and whether that run succeeded. */
export const latestHeartbeats = defineQuery({
  sql: 'ops/latest_heartbeats',
  params: z.object({}),
  row: z.object({ job: z.string(), ageMs: chInt, ok: chInt.transform(Boolean) }),
});

export const insertHeartbeat = defineInsert({
  table: 'worker_heartbeats',
  row: z.object({ job: z.string(), worker: z.string(), lastRunAt: z.string(), ok: z.union([z.literal(0), z.literal(1)]) }),
});

/** Server mode: the ClickHouse disk holding this database's data with the smallest share free. */
export const diskSpace = defineQuery({
  sql: 'ops/disk_space',
  params: z.object({}),
  row: z.object({ name: z.string(), freeSpace: chInt, totalSpace: chInt }),
});

/** Bytes on disk of each table's active parts. */
export const tableBytes = defineQuery({
  sql: 'ops/table_bytes',
  params: z.object({}),
  row: z.object({ table: z.string(), bytes: chInt }),
});
