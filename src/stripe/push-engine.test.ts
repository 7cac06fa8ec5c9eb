import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import { createMetrics } from '../ops/metrics.js';
import { UnknownTenantError, type TenantContext } from '../tenants/context.js';
import { periodOf } from '../time/period.js';
import { MemoryGateway } from '../../test/support/memory-gateway.js';
import { openTestStorage, type TestStorage } from '../../test/support/storage.js';
import { PushLedger } from './ledger.js';
import { StripeLimiter } from './limiter.js';
import { MappingStore } from './mappings.js';
import { PushEngine } from './push.js';

// The push engine on the real embedded engine, against the in-memory gateway: no service, no HTTP.
let storage: TestStorage;
let mappings: MappingStore;
beforeAll(async () => {
  storage = await openTestStorage('push-engine');
  mappings = new MappingStore(storage.api);
});
afterAll(async () => {
  await storage?.destroy();
});

const tenants: Record<string, TenantContext> = {
  p1: { id: 'p1', timeZone: 'UTC', stripeAccount: 'acct_p1' },
  p2: { id: 'p2', timeZone: 'UTC', stripeAccount: undefined },
  p3: { id: 'p3', timeZone: 'UTC', stripeAccount: undefined },
};

function engineFor(gateway: MemoryGateway) {
  const looked: string[] = [];
  const engine = new PushEngine({
    ledger: new PushLedger(storage.jobs),
    gateway,
    limiter: new StripeLimiter(1000, 16),
    tenantOf: async (id) => {
      looked.push(id);
      const t = tenants[id];
      if (!t) throw new UnknownTenantError(id);
      return t;
    },
    metrics: createMetrics(),
    log: createLogger('silent'),
    opts: { settleAfterMs: 23 * 3600_000, failedRetryBaseMs: 60_000 },
  });
  return { engine, looked };
}

async function usage(tenantId: string, customers: Record<string, string>) {
  const period = periodOf(Date.now(), 'UTC');
  const rows = Object.entries(customers).map(([customerRef, quantity]) => ({ tenant_id: tenantId, metric: 'calls', customer_ref: customerRef, period, quantity, events: 1 }));
  await storage.jobs.insert({ table: 'usage_period_counters', values: rows, format: 'JSONEachRow' });
}

async function mapped(tenantId: string, refs: string[]) {
  await mappings.putPrice({ tenantId, metric: 'calls', meterId: `mtr_${tenantId}`, eventName: `calls_${tenantId}`, active: true, formula: 'sum', customerPayloadKey: 'stripe_customer_id', valuePayloadKey: 'value' });
  for (const ref of refs) {
    await mappings.bindCustomer({ tenantId, customerRef: ref, stripeCustomerId: `cus_${tenantId}_${ref}`, subscriptionItemId: '' }, tenants[tenantId]!.stripeAccount ?? '');
  }
}

describe('PushEngine over a StripeGateway', () => {
  it("sends whole units to the tenant's account, resolving the tenant once per cycle, and nothing twice", async () => {
    await mapped('p1', ['a', 'b']);
    await usage('p1', { a: '12.5', b: '3' });
    const gateway = new MemoryGateway();
    const { engine, looked } = engineFor(gateway);
    const r = await engine.cycle('p1');
    expect(r).toMatchObject({ items: 2, acked: 2, unitsPushed: 15, failed: 0 });
    expect(looked).toEqual(['p1']);
    expect(new Set(gateway.calls.map((c) => c.stripeAccount))).toEqual(new Set(['acct_p1']));
    expect(gateway.total('calls_p1', 'cus_p1_a')).toBe(12);
    expect(gateway.total('calls_p1', 'cus_p1_b')).toBe(3);
    expect(await engine.cycle('p1')).toMatchObject({ items: 0, acked: 0 });
    expect(gateway.events).toHaveLength(2);
  });

  it('retries 429s and transient failures within the cycle, with the same identifier', async () => {
    await mapped('p2', ['a']);
    await usage('p2', { a: '7' });
    const gateway = new MemoryGateway();
    gateway.fail('createMeterEvent', { kind: 'rate_limited', retryAfterMs: 10, status: 429, message: 'slow down' }, { kind: 'transient', status: 500, type: 'api_error', message: 'oops' });
    const { engine } = engineFor(gateway);
    expect(await engine.cycle('p2')).toMatchObject({ acked: 1, failed: 0, retriedLater: 0 });
    const sent = gateway.calls.filter((c) => c.method === 'createMeterEvent').map((c) => (c.args[0] as { identifier: string }).identifier);
    expect(sent).toHaveLength(3);
    expect(new Set(sent).size).toBe(1);
    expect(gateway.total('calls_p2', 'cus_p2_a')).toBe(7);
  });

  it("holds a rejected key as the engine's auth error until a later cycle is acknowledged", async () => {
    await mapped('p3', ['a']);
    await usage('p3', { a: '2' });
    const gateway = new MemoryGateway();
    gateway.fail('createMeterEvent', { kind: 'auth', status: 401, message: 'Invalid API Key provided' });
    const { engine } = engineFor(gateway);
    expect(await engine.cycleAll(['p3'])).toMatchObject([{ failed: 1, authError: 'Invalid API Key provided' }]);
    expect(engine.authError()).toBe('Invalid API Key provided');
    const [status] = await engine.status('p3');
    expect(status).toMatchObject({ status: 'error', lastError: { code: 'authentication', httpStatus: 401 } });
    await usage('p3', { a: '1' });
    expect(await engine.cycle('p3')).toMatchObject({ acked: 1, authError: null });
    expect(engine.authError()).toBeNull();
    expect(gateway.total('calls_p3', 'cus_p3_a')).toBe(3);
  });

  it('fails loudly for an unknown tenant', async () => {
    const { engine } = engineFor(new MemoryGateway());
    await expect(engine.cycle('nobody')).rejects.toBeInstanceOf(UnknownTenantError);
    await expect(engine.status('nobody')).rejects.toThrow('unknown tenant: nobody');
  });
});
