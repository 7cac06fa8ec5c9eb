import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { openTestStorage, type TestStorage } from '../../../test/support/storage.js';
import { isStorageUnavailable, StorageUnavailableError } from '../errors.js';
import { toClickHouseTime } from '../time.js';
import { listAdjustments, insertAdjustment } from './adjustments.js';
import { camelToSnake, compactRows, defineQuery, snakeToCamel } from './define.js';
import { insertTenant, getTenant, listTenants } from './tenants.js';
import { lookupWatermarks, insertWatermarks } from './ingest.js';
import { customerOwner, insertCustomerOwner } from './mappings.js';

describe('column names', () => {
  it('map snake_case columns to camelCase fields and back', () => {
    expect(snakeToCamel('stripe_customer_id')).toBe('stripeCustomerId');
    expect(snakeToCamel('diff_pct')).toBe('diffPct');
    expect(snakeToCamel('id')).toBe('id');
    expect(camelToSnake('stripeCustomerId')).toBe('stripe_customer_id');
    expect(camelToSnake('lastRunAt')).toBe('last_run_at');
    for (const c of ['tenant_id', 'last_http_status', 'engine_full']) expect(camelToSnake(snakeToCamel(c))).toBe(c);
  });

  it('builds camelCase rows from a compact result', () => {
    const meta = [{ name: 'customer_ref' }, { name: 'meta' }, { name: 'diffPct' }];
    expect(compactRows({ meta, data: [['a', { some_key: 'x' }, 0.5], ['b', {}, null]] })).toEqual([
      { customerRef: 'a', meta: { some_key: 'x' }, diffPct: 0.5 },
      { customerRef: 'b', meta: {}, diffPct: null },
    ]);
    expect(compactRows({ meta, data: [] })).toEqual([]);
  });
});

describe('storage failures', () => {
  it('are told apart from faults in the statement', () => {
    const ch = (code: string, type: string) => Object.assign(new Error(`Code: ${code}. DB::Exception: x. (${type})`), { code, type });
    expect(isStorageUnavailable(ch('202', 'TOO_MANY_SIMULTANEOUS_QUERIES'))).toBe(true);
    expect(isStorageUnavailable(ch('210', 'NETWORK_ERROR'))).toBe(true);
    expect(isStorageUnavailable(ch('60', 'UNKNOWN_TABLE'))).toBe(false);
    expect(isStorageUnavailable(ch('62', 'SYNTAX_ERROR'))).toBe(false);
    expect(isStorageUnavailable(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isStorageUnavailable(new Error('request failed', { cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) }))).toBe(true);
    expect(isStorageUnavailable(new Error('Timeout error.'))).toBe(true);
    expect(isStorageUnavailable(new Error('ChdbConnection is closed'))).toBe(true);
    expect(isStorageUnavailable(new TypeError('x is not a function'))).toBe(false);
  });
});

describe('queries on the embedded engine', () => {
  let storage: TestStorage;
  beforeAll(async () => {
    storage = await openTestStorage('queries');
  });
  afterAll(() => storage?.destroy());

  it('writes camelCase rows to snake_case columns and reads them back mapped', async () => {
    await insertTenant(storage.api, [{ id: 't1', timezone: 'Europe/Paris', stripeAccount: 'acct_1' }]);
    const [t] = await getTenant(storage.api, { id: 't1' });
    expect(t).toMatchObject({ id: 't1', timeZone: 'Europe/Paris', stripeAccount: 'acct_1' });
    expect(t!.createdAt).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/);
    expect((await listTenants(storage.api, {})).map((x) => x.id)).toContain('t1');
    expect(await getTenant(storage.api, { id: 'nope' })).toEqual([]);

    await insertWatermarks(storage.api, [{ tenantId: 't1', metric: 'm', customerRef: 'c', watermark: toClickHouseTime(1_700_000_000_123) }]);
    expect(await lookupWatermarks(storage.api, { tenantId: 't1', keys: ['m\u0000c'] })).toEqual([{ metric: 'm', customerRef: 'c', watermark: 1_700_000_000_123 }]);
  });

  it("puts an insert's settings in its own statement: nothing stays on the connection, and the token deduplicates", async () => {
    const claim = { stripeCustomerId: 'cus_settings', tenantId: 't1', stripeAccount: '' };
    const token = { insert_deduplicate: 1, insert_deduplication_token: 'claim-cus_settings' };
    await insertCustomerOwner(storage.api, [claim], token);
    await insertCustomerOwner(storage.api, [{ ...claim, tenantId: 't2' }], token);
    const rs = await storage.api.query({ query: "SELECT getSetting('insert_deduplication_token') AS token", format: 'JSONEachRow' });
    expect(await rs.json()).toEqual([{ token: '' }]);
    expect(await customerOwner(storage.api, { stripeCustomerId: 'cus_settings' })).toEqual([{ tenantId: 't1' }]);
    await expect(insertCustomerOwner(storage.api, [claim], { insert_deduplication_token: "x' , readonly = 1 --" })).rejects.toThrow(/plain tokens/);
  });

  it('keeps decimals exact as text', async () => {
    const a = {
      id: 'adj_1', tenantId: 't1', metric: 'm', customerRef: 'c', period: '2025-01', delta: '12345678901234567890.123456',
      reason: 'manual' as const, note: '', status: 'approved' as const, revertsId: '', createdBy: 'me', createdAt: toClickHouseTime(Date.now()),
      approvedBy: 'me', approvedAt: toClickHouseTime(Date.now()), updatedBy: 'me', updatedAt: toClickHouseTime(Date.now()), version: '1',
    };
    await insertAdjustment(storage.api, [a]);
    const [row] = await listAdjustments(storage.api, { tenantId: 't1', id: 'adj_1', metric: '', customerRef: '', period: '', status: '', reason: '', beforeSecond: 0, beforeId: '', limit: 1 });
    expect(row!.delta).toBe('12345678901234567890.123456');
  });

  it('refuses bad parameters and bad rows before and after the engine, loudly', async () => {
    await expect(getTenant(storage.api, { id: 1 as unknown as string })).rejects.toBeInstanceOf(z.ZodError);
    await expect(insertTenant(storage.api, [{ id: 't2', timezone: 'UTC', stripeAccount: null as unknown as string }])).rejects.toBeInstanceOf(z.ZodError);
    const renamed = defineQuery({ sql: 'tenants/get_tenant', params: z.object({ id: z.string() }), row: z.object({ id: z.string(), zone: z.string() }) });
    await expect(renamed(storage.api, { id: 't1' })).rejects.toBeInstanceOf(z.ZodError);
  });

  it('turns a closed connection into StorageUnavailableError, and leaves statement faults as they are', async () => {
    const broken = defineQuery({ sql: 'storage/table_engines', params: z.object({ tables: z.string() }), row: z.object({ name: z.string() }) });
    const fault = await broken(storage.api, { tables: 'x' }).catch((e: unknown) => e);
    expect(fault).not.toBeInstanceOf(StorageUnavailableError);
    expect(fault).toBeInstanceOf(Error);
    await storage.analyst.close();
    const err = await getTenant(storage.analyst, { id: 't1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageUnavailableError);
    expect((err as Error).message).toBe('storage is unavailable; retry');
  });
});
