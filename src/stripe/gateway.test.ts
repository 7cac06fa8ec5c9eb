import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStripeClient } from './client.js';
import { StripeCallError, stripeRetryable } from './errors.js';
import { everyItem, meterEventTimestamp, pageSize, stripeEventMaxAgeMs, stripeNodeGateway, summaryWindow, type StripeGateway } from './gateway.js';
import { sandboxKey } from './runtime.js';
import { startStripeSandbox, type StripeSandbox } from './sandbox/server.js';
import { defaultKeys } from '../../test/support/memory-gateway.js';

const day = 86_400_000;
const march = { start: new Date('2026-03-01T00:00:00Z'), end: new Date('2026-04-01T00:00:00Z') };
const sec = (iso: string) => Date.parse(iso) / 1000;

describe('the 35-day rule', () => {
  it('dates an event of the running period now, of a closed period at its last second, of a future one at its first', () => {
    const now = Date.parse('2026-03-15T10:20:30.500Z');
    expect(meterEventTimestamp(march, now)).toBe(sec('2026-03-15T10:20:30Z'));
    expect(meterEventTimestamp(march, Date.parse('2026-04-03T00:00:00Z'))).toBe(sec('2026-03-31T23:59:59Z'));
    expect(meterEventTimestamp(march, Date.parse('2026-02-27T00:00:00Z'))).toBe(sec('2026-03-01T00:00:00Z'));
  });

  it('takes a closed period while its last second is younger than 35 days less an hour, and no longer after', () => {
    const lastSecond = march.end.getTime() - 1000;
    const edge = lastSecond + stripeEventMaxAgeMs - 3600_000;
    expect(meterEventTimestamp(march, edge)).toBe(lastSecond / 1000);
    expect(meterEventTimestamp(march, edge + 1)).toBeNull();
    expect(meterEventTimestamp(march, march.end.getTime() + 36 * day)).toBeNull();
  });
});

describe('summaryWindow', () => {
  it('widens the period to whole minutes and caps its end at the minute after now', () => {
    const odd = { start: new Date('2026-03-01T00:00:30Z'), end: new Date('2026-04-01T00:00:30Z') };
    expect(summaryWindow(odd, Date.parse('2026-05-01T00:00:00Z'))).toEqual({ start_time: sec('2026-03-01T00:00:00Z'), end_time: sec('2026-04-01T00:01:00Z') });
    expect(summaryWindow(march, Date.parse('2026-03-15T10:20:30Z'))).toEqual({ start_time: sec('2026-03-01T00:00:00Z'), end_time: sec('2026-03-15T10:22:00Z') });
  });
});

describe('everyItem, the paging rule', () => {
  it('asks for full pages, each after the last item of the one before, until Stripe has no more', async () => {
    const all = Array.from({ length: 250 }, (_, i) => ({ id: `x_${i}` }));
    const asked: Array<{ limit: number; starting_after?: string }> = [];
    const page = async (params: { limit: number; starting_after?: string }) => {
      asked.push(params);
      const from = params.starting_after ? all.findIndex((x) => x.id === params.starting_after) + 1 : 0;
      return { data: all.slice(from, from + params.limit), has_more: from + params.limit < all.length };
    };
    const seen: string[] = [];
    for await (const x of everyItem(page)) seen.push(x.id);
    expect(seen).toEqual(all.map((x) => x.id));
    expect(asked).toEqual([{ limit: pageSize }, { limit: pageSize, starting_after: 'x_99' }, { limit: pageSize, starting_after: 'x_199' }]);
  });

  it('stops on an empty page even if Stripe says there is more', async () => {
    let calls = 0;
    const page = async () => (calls++, { data: [] as Array<{ id: string }>, has_more: true });
    for await (const _ of everyItem(page)) throw new Error('no items expected');
    expect(calls).toBe(1);
  });
});

describe('stripeRetryable, the retry policy of Stripe calls', () => {
  it('waits out a 429, backs off on a transient failure, and never retries a refusal', () => {
    const wait = stripeRetryable(new StripeCallError({ kind: 'rate_limited', retryAfterMs: 1000, status: 429, message: '' }));
    expect(wait).toBeGreaterThanOrEqual(1000);
    expect(wait).toBeLessThan(1250);
    expect(stripeRetryable(new StripeCallError({ kind: 'transient', status: 500, type: 'api_error', message: '' }))).toBe(true);
    expect(stripeRetryable(new StripeCallError({ kind: 'permanent', status: 400, code: 'x', message: '' }))).toBe(false);
    expect(stripeRetryable(new StripeCallError({ kind: 'auth', status: 401, message: '' }))).toBe(false);
  });
});

describe('the gateway over stripe-node, against the sandbox over HTTP', () => {
  let sandbox: StripeSandbox;
  let gateway: StripeGateway;
  let stripe: ReturnType<typeof createStripeClient>;
  beforeAll(async () => {
    sandbox = await startStripeSandbox({ port: 0 });
    stripe = createStripeClient({ secretKey: sandboxKey, apiBase: sandbox.url, timeoutMs: 5000 });
    gateway = stripeNodeGateway(stripe);
  });
  afterAll(async () => {
    await sandbox?.close();
  });

  it('lists every meter of the account across pages, and only that account', async () => {
    const account = 'acct_gatewaypages';
    const created = await Promise.all(
      Array.from({ length: pageSize + 5 }, (_, i) =>
        stripe.billing.meters.create({ display_name: `m${i}`, event_name: `ev_${i}`, default_aggregation: { formula: 'sum' } }, { stripeAccount: account }),
      ),
    );
    await stripe.billing.meters.create({ display_name: 'platform', event_name: 'ev_platform', default_aggregation: { formula: 'sum' } });
    const listed: string[] = [];
    for await (const m of gateway.listMeters(account)) listed.push(m.id);
    expect(listed.sort()).toEqual(created.map((m) => m.id).sort());
    expect((await gateway.retrieveMeter(account, created[0]!.id)).event_name).toBe('ev_0');
  });

  it("sums a customer's events of the period in the tenant's account, and a cancelled event no longer counts", async () => {
    const account = 'acct_gatewaytotals';
    const opts = { stripeAccount: account };
    const meter = await stripe.billing.meters.create({ display_name: 't', event_name: 'totals', default_aggregation: { formula: 'sum' } }, opts);
    const customer = await stripe.customers.create({ name: 'c' }, opts);
    const now = Date.now();
    const period = { start: new Date(now - day), end: new Date(now + day) };
    const timestamp = Math.floor(now / 1000) - 60;
    for (const [identifier, value] of [['g1', 3], ['g2', 4]] as const) {
      await gateway.createMeterEvent(account, { eventName: 'totals', identifier, timestamp, stripeCustomerId: customer.id, value, ...defaultKeys });
    }
    await gateway.createMeterEvent(account, { eventName: 'totals', identifier: 'g1', timestamp, stripeCustomerId: customer.id, value: 3, ...defaultKeys });
    expect(await gateway.periodTotal(account, meter.id, customer.id, period)).toBe(7);
    await gateway.cancelMeterEvent(account, 'totals', 'g2');
    expect(await gateway.periodTotal(account, meter.id, customer.id, period)).toBe(3);
    // The platform account has no such meter: the account travels with every call.
    const err = await gateway.periodTotal(undefined, meter.id, customer.id, period).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StripeCallError);
    expect((err as StripeCallError).failure).toMatchObject({ kind: 'permanent', status: 404 });
  });

  it('reads a customer, deleted or not, and turns what stripe-node throws into a classified failure', async () => {
    const c = await stripe.customers.create({ name: 'gone' });
    expect(await gateway.retrieveCustomer(undefined, c.id)).toEqual({ id: c.id, deleted: false });
    await stripe.customers.del(c.id);
    expect(await gateway.retrieveCustomer(undefined, c.id)).toEqual({ id: c.id, deleted: true });
    const bad = stripeNodeGateway(createStripeClient({ secretKey: 'not_a_key', apiBase: sandbox.url, timeoutMs: 5000 }));
    const err = await bad.retrieveCustomer(undefined, c.id).catch((e: unknown) => e);
    expect((err as StripeCallError).failure).toMatchObject({ kind: 'auth', status: 401 });
  });
});
