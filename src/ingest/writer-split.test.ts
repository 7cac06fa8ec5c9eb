import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import { createMetrics } from '../ops/metrics.js';
import { prepareEvent, type EventRow } from './event.js';
import { IngestDataError, IngestWriter } from './writer.js';
import { openTestStorage, type TestStorage } from '../../test/support/storage.js';

// A row that passed validation but that the engine refuses (here a lone surrogate, which validation now rejects
// first) must fail only the request it came from, never the other requests of its group commit.
let storage: TestStorage;
beforeAll(async () => {
  storage = await openTestStorage('split');
});
afterAll(async () => {
  await storage?.destroy();
});

const ts = new Date(Date.now() - 60_000).toISOString();
const row = (tenantId: string, key: string, quantity = 1): EventRow => {
  const r = prepareEvent(
    { tenantId, metric: 'calls', customerRef: 'cus_1', quantity, ts, idempotencyKey: key },
    { nowMs: Date.now(), retentionMs: 86400_000, timeZoneOf: () => 'UTC' },
  );
  if (!r.ok) throw new Error(r.error.message);
  return r.row;
};
const count = async (tenantId: string) => {
  const rs = await storage.api.query({
    query: 'SELECT toString((SELECT count() FROM events WHERE tenant_id = {t:String})) AS events, (SELECT toString(sum(quantity)) FROM usage_period_counters WHERE tenant_id = {t:String}) AS counted',
    query_params: { t: tenantId },
    format: 'JSONEachRow',
  });
  return (await rs.json<{ events: string; counted: string }>())[0];
};

describe('a group commit the engine refuses as bad data', () => {
  it('fails only the offending request; the others are stored, counted once, and stay deduplicated', async () => {
    // A long wait gathers every request below into one group.
    const writer = new IngestWriter(storage.ingest, storage.lookup, { maxRows: 20_000, maxWaitMs: 200, latenessWindowMs: 86400_000 }, createMetrics(), createLogger('silent'));
    const bad = [row('t_bad', 'b1'), row('t_bad', 'b2')];
    bad[1]!.customer_ref = 'bad\ud800';
    const good = Array.from({ length: 10 }, (_, i) => Array.from({ length: 50 }, (_, j) => row('t_good', `g${i}-${j}`, 2)));
    const results = await Promise.allSettled([writer.write(bad), ...good.map((rows) => writer.write(rows))]);
    expect(results[0]!.status).toBe('rejected');
    expect((results[0] as PromiseRejectedResult).reason).toBeInstanceOf(IngestDataError);
    expect(String((results[0] as PromiseRejectedResult).reason.message)).toMatch(/^the storage engine refused this request's events as bad data \(CANNOT_PARSE/);
    for (const r of results.slice(1)) {
      expect(r.status).toBe('fulfilled');
      expect((r as PromiseFulfilledResult<Array<{ status: string }>>).value.every((o) => o.status === 'accepted')).toBe(true);
    }
    expect(await count('t_good')).toEqual({ events: '500', counted: '1000' });
    expect(await count('t_bad')).toEqual({ events: '0', counted: '0' });
    // The refused request's good row was not stored, so sending it again stores it; the good ones are duplicates.
    const again = await writer.write([row('t_bad', 'b1'), ...good[0]!.map((r) => ({ ...r }))]);
    expect(again.map((o) => o.status)).toEqual(['accepted', ...good[0]!.map(() => 'duplicate')]);
    expect(await count('t_bad')).toEqual({ events: '1', counted: '1' });
    expect(await count('t_good')).toEqual({ events: '500', counted: '1000' });
    await writer.close();
  });
});
