import type { ClickHouseClient } from '@clickhouse/client';
import { z } from 'zod';
import { loadSql } from '../storage/sql.js';

/** The parameters of replay's statements on one hour-aligned window (see windowParams in src/replay/replay.ts). */
export const meterWindowParams = z.object({
  replayId: z.string(),
  tenantId: z.string(),
  metrics: z.array(z.string()),
  customerRefs: z.array(z.string()),
  start: z.string(),
  end: z.string(),
});

/** A non-additive meter's period value before and after a replay merges the window's stored events in. */
export const meterReplayItem = z.object({
  metric: z.string(),
  customerRef: z.string(),
  period: z.string(),
  aggregation: z.enum(['unique_count', 'max', 'latest']),
  before: z.string(),
  after: z.string(),
});
export type MeterReplayItem = z.infer<typeof meterReplayItem>;

export function getMeterReplayItems(client: ClickHouseClient) {
  return async (input: z.input<typeof meterWindowParams>) => {
    const rs = await client.query({ query: loadSql('meters/replay_items'), query_params: meterWindowParams.parse(input), format: 'JSONEachRow' });
    return z.array(meterReplayItem).parse(await rs.json());
  };
}

/** Writes the window's meter state corrections (idempotent: a second run finds nothing to add). */
export function writeMeterCorrections(client: ClickHouseClient) {
  return async (input: z.input<typeof meterWindowParams>) => {
    await client.command({ query: loadSql('meters/write_corrections'), query_params: meterWindowParams.parse(input) });
  };
}
