import Stripe from 'stripe';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MappingStore, ownerClaimToken } from '../../src/stripe/mappings.js';
import { toClickHouseTime } from '../../src/storage/time.js';
import { demoEventName } from '../../src/stripe/demo.js';
import { event, startTestService, type TestService } from '../support/service.js';

// Finding 5 of the security review: a tenant's admin bound the demo tenant's Stripe customer and meter, then its
// pushes landed on demo's customer and its reconciliation counted demo's usage. Everything below goes through the
// HTTP API, the embedded engine and the built-in Stripe sandbox over HTTP.
const env = { PUSH_INTERVAL: 'PT1H', RECON_INTERVAL: 'PT1H', STRIPE_TIMEOUT: 'PT2S' };
let svc: TestService;

beforeAll(async () => {
  svc = await startTestService(env);
});
afterAll(async () => {
  await svc?.destroy();
});

const stripe = () => svc.deps.stripe.client;
const sandbox = () => svc.deps.stripe.sandbox!;
/** The real client acting as a connected account of the platform (the Stripe-Account header). */
const asAccount = (account: string) =>
  new Stripe('sk_test_isolation', { host: '127.0.0.1', port: sandbox().port, protocol: 'http', maxNetworkRetries: 0, stripeAccount: account });

async function tenantAdmin(id: string, body: Record<string, unknown> = {}): Promise<string> {
  expect((await svc.request('POST', '/v1/admin/tenants', { body: { id, ...body } })).status).toBe(201);
  const key = await svc.request('POST', '/v1/admin/api-keys', { body: { tenantId: id, scopes: ['admin', 'ingest', 'read'] } });
  expect(key.status).toBe(201);
  return key.body.key as string;
}

const ingest = async (key: string, events: unknown[]) => {
  const r = await svc.request('POST', '/v1/events/ingest', { body: { events }, key });
  expect(r.status).toBe(200);
  expect(r.body.rejected).toBe(0);
};

const demoCustomer = async (ref: string) =>
  ((await svc.request('GET', `/v1/customers?tenantId=demo&customerRef=${ref}`)).body.customers[0].stripeCustomerId as string);
const demoMeter = async () => (await svc.request('GET', '/v1/mappings/demo/requests')).body.meterId as string;

describe('binding another tenant\'s Stripe objects', () => {
  it('the reproduced attack: 409 on demo\'s customer; demo\'s Stripe usage and reconciliation are untouched', async () => {
    await ingest(svc.adminKey, [event({ customerRef: 'cus_1', quantity: 5, idempotencyKey: 'demo-1' })]);
    expect((await svc.request('POST', '/v1/push/run', { body: { tenantId: 'demo' } })).status).toBe(200);
    const meterId = await demoMeter();
    const demoCus = await demoCustomer('cus_1');
    expect(sandbox().totals({ meterId, customer: demoCus })).toBe(5);

    const t2 = await tenantAdmin('t2');
    // Meters are not owned: binding demo's meter is allowed, it bills only customers t2 owns.
    expect((await svc.request('POST', '/v1/mappings', { body: { tenantId: 't2', metric: 'requests', meterId }, key: t2 })).status).toBe(201);
    const taken = await svc.request('POST', '/v1/customers', { body: { tenantId: 't2', customerRef: 'mine', stripeCustomerId: demoCus }, key: t2 });
    expect(taken.status).toBe(409);
    expect(taken.body.error.code).toBe('stripe_customer_taken');
    expect(taken.body.error.message).toContain(demoCus);
    expect(taken.body.error.message).not.toMatch(/demo|cus_1\b/);
    // Nor with the root key: ownership is about the customer, not about who asks.
    const asRoot = await svc.request('POST', '/v1/customers', { body: { tenantId: 't2', customerRef: 'mine', stripeCustomerId: demoCus } });
    expect(asRoot.status).toBe(409);
    expect((await svc.request('GET', '/v1/customers?tenantId=t2', { key: t2 })).body.customers).toEqual([]);

    await ingest(t2, [event({ tenantId: 't2', customerRef: 'mine', quantity: 1000, idempotencyKey: 't2-1' })]);
    const pushed = await svc.request('POST', '/v1/push/run', { body: { tenantId: 't2' }, key: t2 });
    expect(pushed.status).toBe(200);
    expect(pushed.body).toMatchObject({ acked: 0, unmapped: { items: 1, units: 1000 } });
    expect(sandbox().totals({ meterId, customer: demoCus })).toBe(5);

    const t2Recon = await svc.request('POST', '/v1/reconciliation/run', { body: { tenantId: 't2' }, key: t2 });
    expect(t2Recon.status).toBe(200);
    expect(t2Recon.body.items.map((i: { stripe: string | null; status: string }) => [i.stripe, i.status])).toEqual([[null, 'unmapped']]);
    const demoRecon = await svc.request('POST', '/v1/reconciliation/run', { body: { tenantId: 'demo' } });
    const cus1 = demoRecon.body.items.find((i: { customerRef: string }) => i.customerRef === 'cus_1');
    expect(cus1).toMatchObject({ local: '5', stripe: '5', status: 'ok' });
  });

  it('one customerRef per Stripe customer within a tenant; re-binding the same ref is a 200', async () => {
    const key = await tenantAdmin('t3');
    const c = await stripe().customers.create({ name: 't3' });
    const bind = (customerRef: string) => svc.request('POST', '/v1/customers', { body: { tenantId: 't3', customerRef, stripeCustomerId: c.id }, key });
    expect((await bind('a')).status).toBe(201);
    expect((await bind('a')).status).toBe(200);
    const second = await bind('b');
    expect(second.status).toBe(409);
    expect(second.body.error).toMatchObject({ code: 'stripe_customer_bound' });
    expect(second.body.error.message).toContain('customerRef a');
  });

  it('two tenants binding the same customer at the same time: exactly one wins, also across two processes\' stores', async () => {
    await tenantAdmin('race_a');
    await tenantAdmin('race_b');
    const customers = await Promise.all(Array.from({ length: 8 }, (_, i) => stripe().customers.create({ name: `race ${i}` })));
    const results = await Promise.all(
      customers.flatMap((c) =>
        ['race_a', 'race_b'].map((tenantId) => svc.request('POST', '/v1/customers', { body: { tenantId, customerRef: 'r', stripeCustomerId: c.id } })),
      ),
    );
    // Each tenant has one customerRef 'r': of its eight requests, the later ones re-bind it (200) or find it owned.
    const owners = new Map<string, string[]>();
    for (const [i, r] of results.entries()) {
      const c = customers[Math.floor(i / 2)]!.id;
      expect([200, 201, 409]).toContain(r.status);
      if (r.status !== 409) owners.set(c, [...(owners.get(c) ?? []), r.body.tenantId as string]);
      else expect(r.body.error.code).toBe('stripe_customer_taken');
    }
    for (const c of customers) expect(owners.get(c.id) ?? []).toHaveLength(1);

    // Two MappingStores stand for two service processes: each serialises only its own claims, the engine decides.
    const stores = [new MappingStore(svc.deps.storage.api), new MappingStore(svc.deps.storage.api)];
    for (let round = 0; round < 10; round++) {
      const cus = `cus_race${round}`;
      const outcomes = await Promise.all(
        stores.map((s, i) => s.bindCustomer({ tenantId: i === 0 ? 'race_a' : 'race_b', customerRef: `x${round}`, stripeCustomerId: cus, subscriptionItemId: '' })),
      );
      expect(outcomes.filter((o) => o.bound)).toHaveLength(1);
      expect(outcomes.filter((o) => !o.bound && o.reason === 'owned_by_another_tenant')).toHaveLength(1);
    }

    // The interleaving the engine must decide: a racing claim stamped before the winner's but written after the
    // winner read itself back as owner. Its row is dropped, so the owner stays the owner.
    const [a, b] = stores as [MappingStore, MappingStore];
    expect((await a.bindCustomer({ tenantId: 'race_a', customerRef: 'late', stripeCustomerId: 'cus_late', subscriptionItemId: '' })).bound).toBe(true);
    const late = { stripe_customer_id: 'cus_late', tenant_id: 'race_b', claimed_at: toClickHouseTime(Date.now() - 3600_000) };
    const statement = `INSERT INTO stripe_customer_owners SETTINGS insert_deduplicate = 1, insert_deduplication_token = '${ownerClaimToken('cus_late')}' FORMAT JSONEachRow`;
    await svc.deps.storage.jobs.exec({ query: statement, values: Readable.from([`${JSON.stringify(late)}\n`]) });
    expect(await b.bindCustomer({ tenantId: 'race_b', customerRef: 'late', stripeCustomerId: 'cus_late', subscriptionItemId: '' })).toEqual({
      bound: false,
      reason: 'owned_by_another_tenant',
    });
    expect((await a.bindCustomer({ tenantId: 'race_a', customerRef: 'late', stripeCustomerId: 'cus_late', subscriptionItemId: '' })).bound).toBe(true);
    // The claims' token stayed in their statements: nothing is left on the connection for its next inserts.
    const rs = await svc.deps.storage.api.query({ query: "SELECT getSetting('insert_deduplication_token') AS token", format: 'JSONEachRow' });
    expect(await rs.json()).toEqual([{ token: '' }]);
  });
});

describe('a tenant billing through its own Stripe connected account', () => {
  it('validates stripeAccount and refuses to move a tenant with bindings to another account', async () => {
    for (const bad of ['acct_', 'acct_a-b', 'cus_123', 'acct_x\nStripe-Account: acct_y', 42]) {
      const r = await svc.request('POST', '/v1/admin/tenants', { body: { id: 'badacct', stripeAccount: bad } });
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
    }
    const key = await tenantAdmin('mover');
    const nonRoot = await svc.request('PATCH', '/v1/admin/tenants/mover', { body: { stripeAccount: 'acct_mover1' }, key });
    expect(nonRoot.status).toBe(403);
    const set = await svc.request('PATCH', '/v1/admin/tenants/mover', { body: { stripeAccount: 'acct_mover1' } });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ id: 'mover', stripeAccount: 'acct_mover1' });
    expect((await svc.request('PATCH', '/v1/admin/tenants/nobody', { body: { stripeAccount: null } })).status).toBe(404);
    expect((await svc.request('PATCH', '/v1/admin/tenants/mover', { body: { stripeAccount: 'x' } })).status).toBe(400);
    const c = await asAccount('acct_mover1').customers.create({ name: 'm' });
    expect((await svc.request('POST', '/v1/customers', { body: { tenantId: 'mover', customerRef: 'm', stripeCustomerId: c.id }, key })).status).toBe(201);
    const move = await svc.request('PATCH', '/v1/admin/tenants/mover', { body: { stripeAccount: null } });
    expect(move.status).toBe(409);
    expect(move.body.error.code).toBe('tenant_has_bindings');
    expect((await svc.request('POST', '/v1/admin/tenants', { body: { id: 'mover', stripeAccount: 'acct_other' } })).status).toBe(409);
    expect((await svc.request('POST', '/v1/admin/tenants', { body: { id: 'mover', stripeAccount: 'acct_mover1' } })).status).toBe(200);
  });

  it('pushes into its account, cannot see or bind platform objects, and reconciles against its account', async () => {
    const account = 'acct_acme1';
    const key = await tenantAdmin('acme', { stripeAccount: account });
    const acme = asAccount(account);
    // The same event name as the demo meter's: event names are per account.
    const meter = await acme.billing.meters.create({ display_name: 'acme', event_name: demoEventName, default_aggregation: { formula: 'sum' } });
    const customer = await acme.customers.create({ name: 'acme customer' });

    // Platform objects do not exist for the tenant's account.
    const platformMeter = await svc.request('POST', '/v1/mappings', { body: { tenantId: 'acme', metric: 'requests', meterId: await demoMeter() }, key });
    expect(platformMeter.status).toBe(400);
    expect(platformMeter.body.error.code).toBe('meter_not_found');
    const platformCustomer = await svc.request('POST', '/v1/customers', { body: { tenantId: 'acme', customerRef: 'c', stripeCustomerId: await demoCustomer('cus_2') }, key });
    expect(platformCustomer.status).toBe(400);
    expect(platformCustomer.body.error.code).toBe('customer_not_found');
    // And the other way round: a platform tenant cannot bind the account's customer.
    const t4 = await tenantAdmin('t4');
    expect((await svc.request('POST', '/v1/customers', { body: { tenantId: 't4', customerRef: 'c', stripeCustomerId: customer.id }, key: t4 })).body.error.code).toBe(
      'customer_not_found',
    );

    expect((await svc.request('POST', '/v1/mappings', { body: { tenantId: 'acme', metric: 'requests', eventName: demoEventName }, key })).body.meterId).toBe(meter.id);
    expect((await svc.request('POST', '/v1/customers', { body: { tenantId: 'acme', customerRef: 'c', stripeCustomerId: customer.id }, key })).status).toBe(201);

    const demoBefore = sandbox().totals({ eventName: demoEventName, customer: await demoCustomer('cus_1') });
    await ingest(key, [event({ tenantId: 'acme', customerRef: 'c', quantity: 42, idempotencyKey: 'acme-1' })]);
    const pushed = await svc.request('POST', '/v1/push/run', { body: { tenantId: 'acme' }, key });
    expect(pushed.body).toMatchObject({ acked: 1, failed: 0, unitsPushed: 42 });
    expect(sandbox().totals({ account, meterId: meter.id, customer: customer.id })).toBe(42);
    expect(sandbox().events().filter((e) => e.customer === customer.id).map((e) => e.account)).toEqual([account]);
    expect(sandbox().totals({ eventName: demoEventName, customer: await demoCustomer('cus_1') })).toBe(demoBefore);

    const recon = await svc.request('POST', '/v1/reconciliation/run', { body: { tenantId: 'acme' }, key });
    expect(recon.status).toBe(200);
    expect(recon.body.items).toMatchObject([{ customerRef: 'c', local: '42', stripe: '42', status: 'ok' }]);

    // Usage changed on Stripe's side in the account shows up as drift in the tenant's reconciliation: it reads there.
    await acme.billing.meterEvents.create({ event_name: demoEventName, payload: { stripe_customer_id: customer.id, value: '8' } });
    const drift = await svc.request('POST', '/v1/reconciliation/run', { body: { tenantId: 'acme' }, key });
    expect(drift.body.items[0]).toMatchObject({ local: '42', stripe: '50' });
  });
});
