/** Helpers the benchmarks' seeding shares: deterministic randomness, exact decimals, periods, block inserts. */
import type { ClickHouseClient } from '@clickhouse/client';
import { fromScaled } from '../../src/counters/decimal.js';
import { periodOf } from '../../src/time/period.js';

/** The sandbox's seeded PRNG (mulberry32): every run seeds the same data. */
export { seededRandom as prng } from '../../src/stripe/sandbox/random.js';

/** Integer micros -> the exact decimal text ClickHouse parses into Decimal(38, 6). */
export const microsToDecimal = (micros: number | bigint): string => fromScaled(BigInt(micros));

/** 'YYYY-MM' of the current UTC month (offset 0) or an earlier one (offset -1: previous month). */
export function utcPeriod(offsetMonths = 0, now = new Date()): string {
  return periodOf(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offsetMonths, 1));
}

export async function insertRows(client: ClickHouseClient, table: string, rows: object[], blockRows = 50_000): Promise<void> {
  for (let i = 0; i < rows.length; i += blockRows) {
    await client.insert({ table, values: rows.slice(i, i + blockRows), format: 'JSONEachRow' });
  }
}
