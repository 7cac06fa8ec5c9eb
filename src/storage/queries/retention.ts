import { z } from 'zod';
import { chInt } from '../schema.js';
import { defineCommand, defineInsert, defineQuery } from './define.js';

const cutoff = z.string();

/** The highest retention cutoff recorded, as epoch ms (no row: retention never ran). */
export const recordedHorizon = defineQuery({
  sql: 'retention/recorded_horizon',
  params: z.object({}),
  row: z.object({ cutoffMs: chInt }),
});

export const insertHorizon = defineInsert({ table: 'retention_horizons', row: z.object({ cutoff }) });

/** Rows before the cutoff per month (partition id) of a raw table, over every shard. */
export const rowsBefore = defineQuery({
  sql: 'retention/rows_before',
  params: z.object({ table: z.string(), cutoff }),
  row: z.object({ month: z.string(), rows: chInt }),
});

/** Partition ids of a table on this node (its per-shard table on a cluster). */
export const localPartitions = defineQuery({
  sql: 'retention/local_partitions',
  params: z.object({ table: z.string() }),
  row: z.object({ partitionId: z.string() }),
});

/** Run with the render target: on a cluster, the per-shard table ON CLUSTER. */
export const dropPartition = defineCommand({ sql: 'retention/drop_partition', params: z.object({ table: z.string(), partition: z.string() }) });

export const deleteBefore = defineCommand({ sql: 'retention/delete_before', params: z.object({ table: z.string(), cutoff }) });
