import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Stripe from 'stripe';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseForm } from './form.js';
import { startStripeSandbox, type StripeSandbox, type StripeSandboxOptions } from './server.js';
import { SandboxStore } from './state.js';

const open: StripeSandbox[] = [];
async function sandbox(opts: StripeSandboxOptions = {}): Promise<StripeSandbox> {
  const sb = await startStripeSandbox({ port: 0, seed: 42, ...opts });
  open.push(sb);
  return sb;
}

function client(sb: StripeSandbox, extra: Partial<Stripe.StripeConfig> = {}, key = 'sk_test_sandbox'): Stripe {
  return new Stripe(key, {
    host: '127.0.0.1',
    port: sb.port,
    protocol: 'http',
    apiVersion: '2026-10-28.endive',
    maxNetworkRetries: 0,
    ...extra,
  });
}

async function caught(p: Promise<unknown>): Promise<Stripe.errors.StripeError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(Stripe.errors.StripeError);
    return err as Stripe.errors.StripeError;
  }
  throw new Error('expected the call to fail');
}

const nowSec = () => Math.floor(Date.now() / 1000);
/** An hour boundary two hours back: events land inside windows the tests choose. */
const hourAgo2 = () => Math.floor(nowSec() / 3600) * 3600 - 2 * 3600;

async function meterAndCustomer(stripe: Stripe, eventName = 'api_calls') {
  const meter = await stripe.billing.meters.create({
    display_name: 'API calls',
    event_name: eventName,
    default_aggregation: { formula: 'sum' },
    customer_mapping: { type: 'by_id', event_payload_key: 'stripe_customer_id' },
    value_settings: { event_payload_key: 'value' },
  });
  const customer = await stripe.customers.create({ name: 'Acme', email: 'billing@acme.test', metadata: { ref: 'acme' } });
  return { meter, customer };
}

const send = (stripe: Stripe, customer: string, value: string | number, extra: Partial<Stripe.Billing.MeterEventCreateParams> = {}) =>
  stripe.billing.meterEvents.create({ event_name: 'api_calls', payload: { stripe_customer_id: customer, value: String(value) }, ...extra });

afterEach(async () => {
  await Promise.all(open.splice(0).map((sb) => sb.close()));
});

describe('form parser', () => {
  it('parses bracket notation into nested maps and arrays', () => {
    const f = parseForm('payload[value]=5&payload[stripe_customer_id]=cus_1&expand[]=a&expand[]=b&items[0][x]=1&items[1][x]=2&a+b=c%20d');
    expect(f).toEqual({ payload: { value: '5', stripe_customer_id: 'cus_1' }, expand: ['a', 'b'], items: [{ x: '1' }, { x: '2' }], 'a b': 'c d' });
    expect(parseForm('cancel%5Bidentifier%5D=x')).toEqual({ cancel: { identifier: 'x' } });
    expect(() => parseForm('a=1&a[b]=2')).toThrow();
    expect(() => parseForm('__proto__[x]=1')).toThrow();
  });
});

describe('auth and routing', () => {
  it('requires a Stripe-looking key, or exactly the configured one', async () => {
    const sb = await sandbox();
    const bad = await caught(client(sb, {}, 'pk_test_nope').customers.create({}));
    expect(bad).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
    expect(bad.statusCode).toBe(401);
    expect(bad.requestId).toMatch(/^req_/);
    await expect(client(sb, {}, 'rk_live_whatever').customers.create({})).resolves.toMatchObject({ object: 'customer' });

    const res = await fetch(`${sb.url}/v1/customers/cus_x`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe('authentication_error');

    const strict = await sandbox({ apiKey: 'sk_test_only_this' });
    expect((await caught(client(strict).customers.create({}))).statusCode).toBe(401);
    await expect(client(strict, {}, 'sk_test_only_this').customers.create({})).resolves.toMatchObject({ object: 'customer' });
  });

  it('answers unknown routes and unknown parameters with Stripe errors and a request-id', async () => {
    const sb = await sandbox();
    const res = await fetch(`${sb.url}/v1/nope`, { headers: { authorization: 'Bearer sk_test_x' } });
    expect(res.status).toBe(404);
    expect(res.headers.get('request-id')).toMatch(/^req_/);
    const body = (await res.json()) as { error: { type: string; message: string } };
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.error.message).toContain('Unrecognized request URL (GET: /v1/nope)');

    const err = await caught(client(sb).customers.create({ nickname: 'x' } as Stripe.CustomerCreateParams));
    expect(err).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(err.code).toBe('parameter_unknown');
    expect(err.param).toBe('nickname');
  });
});

describe('customers', () => {
  it('creates, retrieves and deletes', async () => {
    const sb = await sandbox();
    const stripe = client(sb);
    const c = await stripe.customers.create({ name: 'Acme', email: 'a@acme.test', metadata: { ref: 'acme' } });
    expect(c.id).toMatch(/^cus_[0-9A-Za-z]{14}$/);
    expect(c).toMatchObject({ object: 'customer', name: 'Acme', email: 'a@acme.test', metadata: { ref: 'acme' }, livemode: false });
    expect(c.lastResponse.headers['request-id']).toMatch(/^req_/);
    expect(await stripe.customers.retrieve(c.id)).toMatchObject({ id: c.id, name: 'Acme' });

    expect(await stripe.customers.del(c.id)).toEqual(expect.objectContaining({ id: c.id, object: 'customer', deleted: true }));
    const after = await stripe.customers.retrieve(c.id);
    expect(after).toMatchObject({ id: c.id, object: 'customer', deleted: true });
    expect((await caught(stripe.customers.del(c.id))).statusCode).toBe(404);
    const missing = await caught(stripe.customers.retrieve('cus_missing'));
    expect(missing.statusCode).toBe(404);
    expect(missing.code).toBe('resource_missing');
    expect(missing.message).toBe("No such customer: 'cus_missing'");
  });
});

describe('meters', () => {
  it('creates, lists, retrieves, deactivates and reactivates', async () => {
    const sb = await sandbox();
    const stripe = client(sb);
    const m = await stripe.billing.meters.create({ display_name: 'Calls', event_name: 'calls', default_aggregation: { formula: 'sum' } });
    expect(m.id).toMatch(/^mtr_[0-9A-Za-z]{24}$/);
    expect(m).toMatchObject({
      object: 'billing.meter',
      display_name: 'Calls',
      event_name: 'calls',
      status: 'active',
      status_transitions: { deactivated_at: null },
      customer_mapping: { event_payload_key: 'stripe_customer_id', type: 'by_id' },
      default_aggregation: { formula: 'sum' },
      value_settings: { event_payload_key: 'value' },
      event_time_window: null,
      livemode: false,
    });
    const dup = await caught(stripe.billing.meters.create({ display_name: 'Again', event_name: 'calls', default_aggregation: { formula: 'sum' } }));
    expect(dup).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(dup.param).toBe('event_name');

    const m2 = await stripe.billing.meters.create({ display_name: 'Bytes', event_name: 'bytes', default_aggregation: { formula: 'count' } });
    expect(await stripe.billing.meters.retrieve(m.id)).toMatchObject({ id: m.id, event_name: 'calls' });
    expect((await caught(stripe.billing.meters.retrieve('mtr_missing'))).statusCode).toBe(404);

    const page = await stripe.billing.meters.list({ limit: 1 });
    expect(page).toMatchObject({ object: 'list', has_more: true, url: '/v1/billing/meters' });
    expect(page.data.map((x) => x.id)).toEqual([m2.id]);
    const all: string[] = [];
    for await (const x of stripe.billing.meters.list({ limit: 1 })) all.push(x.id);
    expect(all).toEqual([m2.id, m.id]);

    const off = await stripe.billing.meters.deactivate(m.id);
    expect(off.status).toBe('inactive');
    expect(off.status_transitions.deactivated_at).toBeTypeOf('number');
    expect((await stripe.billing.meters.list({ status: 'inactive' })).data.map((x) => x.id)).toEqual([m.id]);
    expect((await stripe.billing.meters.list({ status: 'active' })).data.map((x) => x.id)).toEqual([m2.id]);
    const on = await stripe.billing.meters.reactivate(m.id);
    expect(on).toMatchObject({ status: 'active', status_transitions: { deactivated_at: null } });
  });
});

describe('meter events', () => {
  it('dedupes identifiers: the same identifier counts once and returns the original', async () => {
    const sb = await sandbox();
    const stripe = client(sb);
    const { meter, customer } = await meterAndCustomer(stripe);
    const ts = nowSec() - 60;
    const first = await send(stripe, customer.id, 5, { identifier: 'push-1', timestamp: ts });
    expect(first).toMatchObject({
      object: 'billing.meter_event',
      event_name: 'api_calls',
      identifier: 'push-1',
      livemode: false,
      payload: { stripe_customer_id: customer.id, value: '5' },
      timestamp: ts,
    });
    const again = await send(stripe, customer.id, 7, { identifier: 'push-1', timestamp: ts + 1 });
    expect(again).toMatchObject({ identifier: 'push-1', payload: { value: '5' }, timestamp: ts, created: first.created });
    const generated = await send(stripe, customer.id, 1);
    expect(generated.identifier).toBeTruthy();
    expect(sb.totals({ meterId: meter.id, customer: customer.id })).toBe(6);
    expect(sb.totals({ eventName: 'api_calls', customer: customer.id })).toBe(6);
    expect(sb.events()).toHaveLength(2);
    const long = await caught(send(stripe, customer.id, 1, { identifier: 'x'.repeat(101) }));
    expect(long.param).toBe('identifier');
  });

  it('lets an identifier be reused after identifierTtlMs', async () => {
    let t = Date.now();
    const sb = await sandbox({ now: () => t, identifierTtlMs: 60_000 });
    const stripe = client(sb);
    const { meter, customer } = await meterAndCustomer(stripe);
    await send(stripe, customer.id, 2, { identifier: 'reused' });
    await send(stripe, customer.id, 2, { identifier: 'reused' });
    expect(sb.totals({ meterId: meter.id, customer: customer.id })).toBe(2);
    t += 61_000;
    await send(stripe, customer.id, 2, { identifier: 'reused' });
    expect(sb.totals({ meterId: meter.id, customer: customer.id })).toBe(4);
  });

  it('accepts whole numbers (negative as corrections) and refuses decimals', async () => {
    const sb = await sandbox();
    const stripe = client(sb);
    const { meter, customer } = await meterAndCustomer(stripe);
    await send(stripe, customer.id, 10);
    await send(stripe, customer.id, -3);
    const dec = await caught(send(stripe, customer.id, '1.5'));
    expect(dec).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(dec.statusCode).toBe(400);
    expect(dec.param).toBe('payload[value]');
    expect((await caught(send(stripe, customer.id, 'abc'))).statusCode).toBe(400);
    expect(sb.totals({ meterId: meter.id, customer: customer.id })).toBe(7);
  });

  it('enforces the timestamp window: 35 days back, 5 minutes ahead', async () => {
    const sb = await sandbox();
    const stripe = client(sb);
    const { customer } = await meterAndCustomer(stripe);
    const old = await caught(send(stripe, customer.id, 1, { timestamp: nowSec() - 36 * 86_400 }));
    expect(old).toMatchObject({ statusCode: 400, param: 'timestamp', code: 'timestamp_too_far_in_past' });
    const ahead = await caught(send(stripe, customer.id, 1, { timestamp: nowSec() + 6 * 60 }));
    expect(ahead).toMatchObject({ statusCode: 400, param: 'timestamp', code: 'timestamp_in_future' });
    await expect(send(stripe, customer.id, 1, { timestamp: nowSec() - 34 * 86_400 })).resolves.toBeTruthy();
    await expect(send(stripe, customer.id, 1, { timestamp: nowSec() + 4 * 60 })).resolves.toBeTruthy();
    expect(sb.events()).toHaveLength(2);
  });

  it('refuses inactive meters, unknown event names and deleted customers', async () => {
    const sb = await sandbox();
    const stripe = client(sb);
    const { meter, customer } = await meterAndCustomer(stripe);
    await stripe.billing.meters.deactivate(meter.id);
    const inactive = await caught(send(stripe, customer.id, 1));
    expect(inactive).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(inactive.message).toContain('inactive');
    await stripe.billing.meters.reactivate(meter.id);
    await send(stripe, customer.id, 1);

    const unknown = await caught(stripe.billing.meterEvents.create({ event_name: 'nope', payload: { stripe_customer_id: customer.id, value: '1' } }));
    expect(unknown.statusCode).toBe(400);

    await stripe.customers.del(customer.id);
    const gone = await caught(send(stripe, customer.id, 1));
    expect(gone).toMatchObject({ statusCode: 400, code: 'resource_missing', message: `No such customer: '${customer.id}'` });
    expect(sb.events()).toHaveLength(1);
  });
});

describe('meter event adjustments', () => {
  it('cancels an event so it stops counting, only within 24 hours', async () => {
    let t = Date.now();
    const sb = await sandbox({ now: () => t });
    const stripe = client(sb);
    const { meter, customer } = await meterAndCustomer(stripe);
    await send(stripe, customer.id, 4, { identifier: 'a' });
    await send(stripe, customer.id, 6, { identifier: 'b' });
    const adj = await stripe.billing.meterEventAdjustments.create({ event_name: 'api_calls', type: 'cancel', cancel: { identifier: 'a' } });
    expect(adj).toEqual(
      expect.objectContaining({ object: 'billing.meter_event_adjustment', livemode: false, status: 'pending', event_name: 'api_calls', type: 'cancel', cancel: { identifier: 'a' } }),
    );
    expect(sb.totals({ meterId: meter.id, customer: customer.id })).toBe(6);
    expect(sb.counts()).toMatchObject({ events: 2, cancelled: 1 });

    expect((await caught(stripe.billing.meterEventAdjustments.create({ event_name: 'api_calls', type: 'cancel', cancel: { identifier: 'zzz' } }))).statusCode).toBe(400);
    t += 25 * 3600_000;
    const late = await caught(stripe.billing.meterEventAdjustments.create({ event_name: 'api_calls', type: 'cancel', cancel: { identifier: 'b' } }));
    expect(late).toMatchObject({ statusCode: 400, param: 'cancel[identifier]' });
    expect(sb.totals({ meterId: meter.id, customer: customer.id })).toBe(6);
  });
});

describe('event summaries', () => {
  it('validates parameters and aggregates per range and per hour', async () => {
    const sb = await sandbox();
    const stripe = client(sb);
    const { meter, customer } = await meterAndCustomer(stripe);
    const other = await stripe.customers.create({ name: 'Other' });
    const h0 = hourAgo2();
    await send(stripe, customer.id, 3, { timestamp: h0 + 10 });
    await send(stripe, customer.id, 4, { timestamp: h0 + 3599 });
    await send(stripe, customer.id, 5, { timestamp: h0 + 3600 });
    await send(stripe, customer.id, 100, { timestamp: h0 + 7300, identifier: 'cancel-me' });
    await send(stripe, other.id, 1000, { timestamp: h0 + 20 });
    await stripe.billing.meterEventAdjustments.create({ event_name: 'api_calls', type: 'cancel', cancel: { identifier: 'cancel-me' } });

    const noCustomer = await caught(
      stripe.billing.meters.listEventSummaries(meter.id, { start_time: h0, end_time: h0 + 3600 } as Stripe.Billing.MeterListEventSummariesParams),
    );
    expect(noCustomer).toMatchObject({ statusCode: 400, param: 'customer' });
    const unaligned = await caught(stripe.billing.meters.listEventSummaries(meter.id, { customer: customer.id, start_time: h0 + 1, end_time: h0 + 3600 }));
    expect(unaligned).toMatchObject({ statusCode: 400, param: 'start_time' });
    expect((await caught(stripe.billing.meters.listEventSummaries(meter.id, { customer: customer.id, start_time: h0, end_time: h0 }))).statusCode).toBe(400);

    const whole = await stripe.billing.meters.listEventSummaries(meter.id, { customer: customer.id, start_time: h0, end_time: h0 + 3 * 3600 });
    expect(whole).toMatchObject({ object: 'list', has_more: false });
    expect(whole.data).toHaveLength(1);
    expect(whole.data[0]).toMatchObject({
      object: 'billing.meter_event_summary',
      aggregated_value: 12,
      start_time: h0,
      end_time: h0 + 3 * 3600,
      meter: meter.id,
      livemode: false,
    });
    // [start, end): the event at h0+3600 is outside the first hour.
    const firstHour = await stripe.billing.meters.listEventSummaries(meter.id, { customer: customer.id, start_time: h0, end_time: h0 + 3600 });
    expect(firstHour.data[0]!.aggregated_value).toBe(7);

    const hourly = await stripe.billing.meters.listEventSummaries(meter.id, {
      customer: customer.id,
      start_time: h0,
      end_time: h0 + 3 * 3600,
      value_grouping_window: 'hour',
    });
    expect(hourly.data.map((s) => [s.start_time - h0, s.end_time - h0, s.aggregated_value])).toEqual([
      [0, 3600, 7],
      [3600, 7200, 5],
    ]);
    expect(sb.totals({ meterId: meter.id, customer: customer.id, start: h0, end: h0 + 3600 })).toBe(7);
  });

  it('leaves events younger than aggregationDelayMs out of summaries', async () => {
    let t = Date.now();
    const sb = await sandbox({ now: () => t, aggregationDelayMs: 60_000 });
    const stripe = client(sb);
    const { meter, customer } = await meterAndCustomer(stripe);
    const h0 = hourAgo2();
    await send(stripe, customer.id, 9, { timestamp: h0 + 60 });
    const q = { customer: customer.id, start_time: h0, end_time: h0 + 3600 };
    expect((await stripe.billing.meters.listEventSummaries(meter.id, q)).data[0]!.aggregated_value).toBe(0);
    t += 61_000;
    expect((await stripe.billing.meters.listEventSummaries(meter.id, q)).data[0]!.aggregated_value).toBe(9);
  });
});

describe('persistence', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stripe-sandbox-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('replays the journal on restart: same ids, totals, cancellations and dedupe', async () => {
    const stateFile = path.join(dir, 'nested', 'stripe.jsonl');
    const first = await startStripeSandbox({ port: 0, stateFile });
    let stripe = client(first);
    const { meter, customer } = await meterAndCustomer(stripe);
    const deleted = await stripe.customers.create({ name: 'Gone' });
    await stripe.customers.del(deleted.id);
    await send(stripe, customer.id, 10, { identifier: 'p-1' });
    await send(stripe, customer.id, 5, { identifier: 'p-2' });
    await stripe.billing.meterEventAdjustments.create({ event_name: 'api_calls', type: 'cancel', cancel: { identifier: 'p-2' } });
    await first.close();

    // A crash mid-append leaves a torn line; it is dropped on start.
    fs.appendFileSync(stateFile, '{"t":"event","e":{"ident');
    const second = await sandbox({ stateFile });
    stripe = client(second);
    expect(await stripe.billing.meters.retrieve(meter.id)).toMatchObject({ id: meter.id, event_name: 'api_calls' });
    expect(await stripe.customers.retrieve(customer.id)).toMatchObject({ id: customer.id, name: 'Acme', metadata: { ref: 'acme' } });
    expect(await stripe.customers.retrieve(deleted.id)).toMatchObject({ deleted: true });
    expect(second.totals({ meterId: meter.id, customer: customer.id })).toBe(10);
    expect(second.counts()).toMatchObject({ customers: 1, deletedCustomers: 1, meters: 1, events: 2, cancelled: 1 });
    const replayed = await send(stripe, customer.id, 10, { identifier: 'p-1' });
    expect(replayed.identifier).toBe('p-1');
    expect(second.totals({ meterId: meter.id, customer: customer.id })).toBe(10);
    await send(stripe, customer.id, 1, { identifier: 'p-3' });
    expect(second.totals({ meterId: meter.id, customer: customer.id })).toBe(11);
    expect(fs.readFileSync(stateFile, 'utf8').endsWith('\n')).toBe(true);
  });

  it('journals and replays 50k events quickly', () => {
    const stateFile = path.join(dir, 'big.jsonl');
    const store = new SandboxStore(stateFile);
    store.commit({ t: 'customer', c: { id: 'cus_1', created: 1, name: null, email: null, description: null, phone: null, metadata: {}, deleted: false } });
    const ts = nowSec();
    const t0 = Date.now();
    for (let i = 0; i < 50_000; i++) {
      store.commit({
        t: 'event',
        e: { identifier: `id-${i}`, event_name: 'e', meter: 'mtr_1', customer: 'cus_1', value: 1, timestamp: ts, created: ts, received_ms: ts * 1000, payload: { stripe_customer_id: 'cus_1', value: '1' } },
      });
    }
    const writeMs = Date.now() - t0;
    store.close();
    const t1 = Date.now();
    const again = new SandboxStore(stateFile);
    const readMs = Date.now() - t1;
    expect(again.counts().events).toBe(50_000);
    expect(again.seriesOf('mtr_1', 'cus_1')).toHaveLength(50_000);
    again.close();
    expect(writeMs).toBeLessThan(5_000);
    expect(readMs).toBeLessThan(3_000);
  });
});

describe('connected accounts (Stripe-Account)', () => {
  it('keeps each account\'s customers, meters, events and identifiers apart from the platform\'s and from each other', async () => {
    const sb = await sandbox();
    const platform = client(sb);
    const acctA = client(sb, { stripeAccount: 'acct_A1' });
    const acctB = client(sb, { stripeAccount: 'acct_B2' });
    const p = await meterAndCustomer(platform);
    // The same event name is free in another account.
    const a = await meterAndCustomer(acctA);

    for (const other of [acctA, acctB]) {
      expect((await caught(other.customers.retrieve(p.customer.id))).statusCode).toBe(404);
      expect((await caught(other.billing.meters.retrieve(p.meter.id))).statusCode).toBe(404);
    }
    expect((await caught(platform.customers.retrieve(a.customer.id))).statusCode).toBe(404);
    expect((await platform.customers.list()).data.map((c) => c.id)).toEqual([p.customer.id]);
    expect((await acctA.billing.meters.list()).data.map((m) => m.id)).toEqual([a.meter.id]);
    expect((await acctB.billing.meters.list()).data).toEqual([]);

    // A platform customer cannot be billed on an account's meter, nor summarised there.
    expect((await caught(send(acctA, p.customer.id, 5))).code).toBe('resource_missing');
    expect((await caught(send(acctB, a.customer.id, 5))).code).toBe('no_meter');
    await send(platform, p.customer.id, 7, { identifier: 'same-id' });
    // Identifiers are per account: the same identifier in account A is a new event, not a replay of the platform's.
    await send(acctA, a.customer.id, 3, { identifier: 'same-id' });
    expect(sb.totals({ meterId: p.meter.id, customer: p.customer.id })).toBe(7);
    expect(sb.totals({ account: 'acct_A1', meterId: a.meter.id, customer: a.customer.id })).toBe(3);
    expect(() => sb.totals({ meterId: a.meter.id, customer: a.customer.id })).toThrow(/no meter/);
    const start = Math.floor(nowSec() / 60) * 60 - 3600;
    const summaries = (who: Stripe, meter: string, customer: string) =>
      who.billing.meters.listEventSummaries(meter, { customer, start_time: start, end_time: start + 7200 });
    expect((await summaries(acctA, a.meter.id, a.customer.id)).data[0]!.aggregated_value).toBe(3);
    expect((await caught(summaries(acctA, p.meter.id, p.customer.id))).statusCode).toBe(404);

    const bad = await fetch(`${sb.url}/v1/customers`, { headers: { authorization: 'Bearer sk_test_x', 'stripe-account': 'acct_../x' } });
    expect(bad.status).toBe(403);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('account_invalid');
  });

  it('replays accounts from the journal; lines from before accounts are the platform\'s', async () => {
    const stateFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-acct-')), 'state.jsonl');
    const first = await sandbox({ stateFile });
    const a = await meterAndCustomer(client(first, { stripeAccount: 'acct_A1' }));
    await first.close();
    fs.appendFileSync(stateFile, `${JSON.stringify({ t: 'customer', c: { id: 'cus_old', created: 1, name: null, email: null, description: null, phone: null, metadata: {}, deleted: false } })}\n`);
    const second = await sandbox({ stateFile });
    expect((await client(second, { stripeAccount: 'acct_A1' }).customers.retrieve(a.customer.id)).id).toBe(a.customer.id);
    expect((await caught(client(second).customers.retrieve(a.customer.id))).statusCode).toBe(404);
    expect((await client(second).customers.retrieve('cus_old')).id).toBe('cus_old');
  });
});

describe('fault injection', () => {
  it('rateLimitRate=1: 429 rate_limit with Retry-After, nothing committed', async () => {
    const sb = await sandbox();
    const stripe = client(sb);
    const { meter, customer } = await meterAndCustomer(stripe);
    sb.setFaults({ rateLimitRate: 1 });
    const err = await caught(send(stripe, customer.id, 1, { identifier: 'rl' }));
    expect(err).toBeInstanceOf(Stripe.errors.StripeRateLimitError);
    expect(err.statusCode).toBe(429);
    expect(err.code).toBe('rate_limit');
    expect((err.headers as Record<string, string>)['retry-after']).toBe('1');
    // Other routes are not faulted by default.
    await expect(stripe.customers.retrieve(customer.id)).resolves.toBeTruthy();
    expect(sb.totals({ meterId: meter.id, customer: customer.id })).toBe(0);
    expect(sb.stats().faults.rateLimit).toBe(1);
  });

  it('errorRate=1: 500 api_error, nothing committed', async () => {
    const sb = await sandbox({ faults: { errorRate: 1 } });
    const stripe = client(sb);
    const { meter, customer } = await meterAndCustomer(stripe);
    const err = await caught(send(stripe, customer.id, 1));
    expect(err).toBeInstanceOf(Stripe.errors.StripeAPIError);
    expect(err.statusCode).toBe(500);
    expect(sb.totals({ meterId: meter.id, customer: customer.id })).toBe(0);
    expect(sb.events()).toHaveLength(0);
  });

  it('dropAfterCommitRate=1: connection error but committed; a resend with the identifier does not double count', async () => {
    const sb = await sandbox({ faults: { dropAfterCommitRate: 1 } });
    const stripe = client(sb);
    const { meter, customer } = await meterAndCustomer(stripe);
    const err = await caught(send(stripe, customer.id, 8, { identifier: 'lost-ack' }));
    expect(err).toBeInstanceOf(Stripe.errors.StripeConnectionError);
    expect(sb.totals({ meterId: meter.id, customer: customer.id })).toBe(8);
    sb.setFaults({});
    const resent = await send(stripe, customer.id, 8, { identifier: 'lost-ack' });
    expect(resent.identifier).toBe('lost-ack');
    expect(sb.totals({ meterId: meter.id, customer: customer.id })).toBe(8);
    expect(sb.events()).toHaveLength(1);
    expect(sb.stats().faults.dropAfterCommit).toBeGreaterThanOrEqual(1);
  });

  it('timeoutRate=1: the request hangs, the client times out, nothing committed', async () => {
    const sb = await sandbox({ faults: { timeoutRate: 1, hangMs: 5_000 } });
    const stripe = client(sb, { timeout: 300 });
    const { meter, customer } = await meterAndCustomer(stripe);
    const started = Date.now();
    const err = await caught(send(stripe, customer.id, 1));
    expect(err).toBeInstanceOf(Stripe.errors.StripeConnectionError);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(sb.totals({ meterId: meter.id, customer: customer.id })).toBe(0);

    // A hang shorter than the client timeout ends in a dropped connection instead.
    sb.setFaults({ timeoutRate: 1, hangMs: 50 });
    const dropped = await caught(client(sb, { timeout: 5_000 }).billing.meterEvents.create({ event_name: 'api_calls', payload: { stripe_customer_id: customer.id, value: '1' } }));
    expect(dropped).toBeInstanceOf(Stripe.errors.StripeConnectionError);
    expect(sb.events()).toHaveLength(0);
    expect(sb.stats().faults.timeout).toBeGreaterThanOrEqual(2);
  });

  it('is controllable over HTTP, seeded, and counts requests per route', async () => {
    const sb = await sandbox({ seed: 7 });
    const stripe = client(sb);
    const { customer } = await meterAndCustomer(stripe);
    const set = await fetch(`${sb.url}/_sandbox/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ errorRate: 0.5 }),
    });
    expect(set.status).toBe(200);
    expect(await set.json()).toMatchObject({ errorRate: 0.5, routes: ['POST /v1/billing/meter_events'] });
    const bad = await fetch(`${sb.url}/_sandbox/faults`, { method: 'POST', body: JSON.stringify({ errorRate: 2 }) });
    expect(bad.status).toBe(400);

    const outcomes: string[] = [];
    for (let i = 0; i < 20; i++) {
      outcomes.push(await send(stripe, customer.id, 1).then(() => 'ok', (e: Stripe.errors.StripeError) => String(e.statusCode)));
    }
    // Same seed, same decisions.
    const replay = await sandbox({ seed: 7, faults: { errorRate: 0.5 } });
    const stripe2 = client(replay);
    const c2 = (await meterAndCustomer(stripe2)).customer;
    const outcomes2: string[] = [];
    for (let i = 0; i < 20; i++) {
      outcomes2.push(await send(stripe2, c2.id, 1).then(() => 'ok', (e: Stripe.errors.StripeError) => String(e.statusCode)));
    }
    expect(outcomes2).toEqual(outcomes);
    expect(outcomes).toContain('ok');
    expect(outcomes).toContain('500');

    const state = (await (await fetch(`${sb.url}/_sandbox/state`)).json()) as Record<string, number>;
    const oks = outcomes.filter((o) => o === 'ok').length;
    expect(state).toMatchObject({ customers: 1, meters: 1, events: oks, cancelled: 0 });
    const stats = sb.stats();
    expect(stats.routes['POST /v1/billing/meter_events']).toMatchObject({ requests: 20, statuses: { '200': oks, '500': 20 - oks } });
    expect(stats.faults.error).toBe(20 - oks);
  });
});
