import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdjustmentStore } from '../adjustments/store.js';
import { createLogger } from '../log.js';
import { createMetrics } from '../ops/metrics.js';
import { PushLedger } from '../stripe/ledger.js';
import { StripeLimiter } from '../stripe/limiter.js';
import { MappingStore } from '../stripe/mappings.js';
import { PushEngine } from '../stripe/push.js';
import type { TenantContext } from '../tenants/context.js';
import { periodOf } from '../time/period.js';
import { defaultKeys, MemoryGateway } from '../../test/support/memory-gateway.js';
import { openTestStorage, type TestStorage } from '../../test/support/storage.js';
import { keepClockAwayFromMonthStart } from '../../test/support/clock.js';
import { Reconciler } from './reconcile.js';

keepClockAwayFromMonthStart();

// Reconciliation on the real embedded engine, reading Stripe's totals from the in-memory gateway.
let storage: TestStorage;
const gateway = new MemoryGateway();
const tenant: TenantContext = { id: 'g1', timeZone: 'UTC', stripeAccount: 'acct_g1' };
let looked = 0;
let engine: PushEngine;
let reconciler: Reconciler;

beforeAll(async () => {
  storage = await openTestStorage('reconcile-gateway');
  const metrics = createMetrics();
  const log = createLogger('silent');
  const ledger = new PushLedger(storage.jobs);
  const limiter = new StripeLimiter(1000, 16);
  const tenantOf = async () => (looked++, tenant);
  engine = new PushEngine({ ledger, gateway, limiter, tenantOf, metrics, log, opts: { settleAfterMs: 23 * 3600_000, failedRetryBaseMs: 60_000 } });
  const adjustments = { store: new AdjustmentStore(storage.api), ledger, betweenPushes: <R>(fn: () => Promise<R>) => fn() };
  reconciler = new Reconciler({ client: storage.jobs, gateway, limiter, adjustments, tenantOf, metrics, log, opts: { epsilon: 0.005, settleMs: 0 } });
  const mappings = new MappingStore(storage.api);
  gateway.addMeter('acct_g1', { id: 'mtr_g1', event_name: 'calls_g1', status: 'active' });
  await mappings.putPrice({ tenantId: 'g1', metric: 'calls', meterId: 'mtr_g1', eventName: 'calls_g1', active: true, formula: 'sum', customerPayloadKey: 'stripe_customer_id', valuePayloadKey: 'value' });
  await mappings.bindCustomer({ tenantId: 'g1', customerRef: 'a', stripeCustomerId: 'cus_a', subscriptionItemId: '' }, 'acct_g1');
  const period = periodOf(Date.now(), 'UTC');
  await storage.jobs.insert({ table: 'usage_period_counters', values: [{ tenant_id: 'g1', metric: 'calls', customer_ref: 'a', period, quantity: '40', events: 4 }], format: 'JSONEachRow' });
  await engine.cycle('g1');
});
afterAll(async () => {
  await storage?.destroy();
});

describe('Reconciler over a StripeGateway', () => {
  it("reads Stripe's total in the tenant's account, resolving the tenant once per run, and finds it equal", async () => {
    looked = 0;
    gateway.calls.length = 0;
    const run = await reconciler.run('g1', null, 'api');
    expect(run.status).toBe('succeeded');
    expect(looked).toBe(1);
    expect(gateway.calls.filter((c) => c.method === 'periodTotal').every((c) => c.stripeAccount === 'acct_g1')).toBe(true);
    expect(run.items).toMatchObject([{ customerRef: 'a', local: '40', stripe: '40', pushed: 40, status: 'ok' }]);
  });

  it('retries a failed read under the Stripe retry policy, then finds the drift Stripe shows', async () => {
    await gateway.createMeterEvent('acct_g1', { eventName: 'calls_g1', identifier: 'outside', timestamp: Math.floor(Date.now() / 1000) - 60, stripeCustomerId: 'cus_a', value: 10, ...defaultKeys });
    gateway.fail('periodTotal', { kind: 'transient', status: 500, type: 'api_error', message: 'oops' }, { kind: 'rate_limited', retryAfterMs: 5, status: 429, message: 'slow' });
    const run = await reconciler.run('g1', null, 'api');
    expect(run.status).toBe('succeeded');
    expect(run.items).toMatchObject([{ stripe: '50', pushed: 40, status: 'drift' }]);
    expect(run.items[0]!.causes).toContainEqual({ cause: 'stripe_differs_from_pushed', stripe: '50', pushed: 40 });
  });

  it('fails the run, deciding nothing, when Stripe refuses the read', async () => {
    gateway.fail('periodTotal', { kind: 'auth', status: 401, message: 'Invalid API Key provided' });
    const run = await reconciler.run('g1', null, 'api');
    expect(run).toMatchObject({ status: 'failed', error: "reading Stripe's totals failed: Invalid API Key provided", items: [] });
  });
});
