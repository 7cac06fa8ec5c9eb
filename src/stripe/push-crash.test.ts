import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnService, type ChildService, callService } from '../../test/support/child.js';
import { createStripeClient } from './client.js';
import { sandboxKey } from './runtime.js';
import { startStripeSandbox, type StripeSandbox } from './sandbox/server.js';

// The service runs as a real child process and is killed with SIGKILL between persisting a push intent and
// recording Stripe's acknowledgement; the restarted process must settle it without counting anything twice.
const adminKey = 'crash-test-admin-key-0123456789abcdef';
let sandbox: StripeSandbox;
let dataDir: string;
let child: ChildService | undefined;

beforeAll(async () => {
  sandbox = await startStripeSandbox({ port: 0 });
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'stripemeter-crash-'));
});
afterAll(async () => {
  child?.process.kill('SIGKILL');
  await sandbox?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const start = () =>
  spawnService({
    STRIPEMETER_DATA_DIR: dataDir,
    STRIPEMETER_ADMIN_KEY: adminKey,
    STRIPE_API_BASE: sandbox.url,
    PUSH_INTERVAL: 'PT1H',
  });

const call = (method: string, urlPath: string, body?: unknown) => callService(child!.url, adminKey, method, urlPath, body);

async function killWhen(condition: () => boolean) {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 25));
  expect(condition()).toBe(true);
  child!.process.kill('SIGKILL');
  await child!.exited;
}

describe('a push killed mid-flight', () => {
  it('double-counts nothing after a restart, whether or not Stripe had committed', async () => {
    const stripe = createStripeClient({ secretKey: sandboxKey, apiBase: sandbox.url, timeoutMs: 5000 });
    const meter = await stripe.billing.meters.create({ display_name: 'c', event_name: 'crash_calls', default_aggregation: { formula: 'sum' } });
    const landed = await stripe.customers.create({ name: 'landed' });
    const lost = await stripe.customers.create({ name: 'lost' });

    child = await start();
    expect((await call('POST', '/v1/admin/tenants', { id: 'crash' })).status).toBe(201);
    expect((await call('POST', '/v1/mappings', { tenantId: 'crash', metric: 'calls', meterId: meter.id })).status).toBe(201);
    await call('POST', '/v1/customers', { tenantId: 'crash', customerRef: 'landed', stripeCustomerId: landed.id });
    const ts = new Date().toISOString();
    const ingest = await call('POST', '/v1/events/ingest', {
      events: [{ tenantId: 'crash', metric: 'calls', customerRef: 'landed', quantity: 9, ts, idempotencyKey: 'a' }],
    });
    expect(ingest.body.accepted).toBe(1);

    // 1: Stripe commits the event, the answer never arrives, the process dies.
    sandbox.setFaults({ dropAfterCommitRate: 1, latencyMs: 100 });
    void call('POST', '/v1/push/run', { tenantId: 'crash' }).catch(() => undefined);
    await killWhen(() => sandbox.events().some((e) => e.customer === landed.id));
    sandbox.setFaults({});

    child = await start();
    const pending = await call('GET', '/v1/push/status?tenantId=crash');
    expect(pending.body.items[0]).toMatchObject({ status: 'pending', pushedTotal: 0, pendingIntent: { value: 9 } });
    expect((await call('POST', '/v1/push/run', { tenantId: 'crash' })).body.acked).toBe(1);
    expect(sandbox.totals({ meterId: meter.id, customer: landed.id })).toBe(9);
    expect(sandbox.events().filter((e) => e.customer === landed.id)).toHaveLength(1);

    // 2: the intent is persisted, Stripe never commits, the process dies: the restart sends it once.
    await call('POST', '/v1/customers', { tenantId: 'crash', customerRef: 'lost', stripeCustomerId: lost.id });
    await call('POST', '/v1/events/ingest', {
      events: [{ tenantId: 'crash', metric: 'calls', customerRef: 'lost', quantity: 4, ts, idempotencyKey: 'b' }],
    });
    sandbox.setFaults({ timeoutRate: 1, hangMs: 10_000 });
    const before = sandbox.stats().faults.timeout;
    void call('POST', '/v1/push/run', { tenantId: 'crash' }).catch(() => undefined);
    await killWhen(() => sandbox.stats().faults.timeout > before);
    sandbox.setFaults({});
    expect(sandbox.totals({ meterId: meter.id, customer: lost.id })).toBe(0);

    child = await start();
    expect((await call('POST', '/v1/push/run', { tenantId: 'crash' })).body.acked).toBe(1);
    expect(sandbox.totals({ meterId: meter.id, customer: lost.id })).toBe(4);
    expect(sandbox.totals({ meterId: meter.id, customer: landed.id })).toBe(9);
    const final = await call('GET', '/v1/push/status?tenantId=crash');
    expect(final.body.items.map((i: any) => [i.customerRef, i.status, i.pushedTotal])).toEqual([
      ['landed', 'ok', 9],
      ['lost', 'ok', 4],
    ]);
  }, 120_000);

  it('a last meter (a max) killed between intent and acknowledgement ends holding the period value, sent once', async () => {
    const stripe = createStripeClient({ secretKey: sandboxKey, apiBase: sandbox.url, timeoutMs: 5000 });
    const meter = await stripe.billing.meters.create({ display_name: 'p', event_name: 'crash_peak', default_aggregation: { formula: 'last' } });
    const customer = await stripe.customers.create({ name: 'peak' });
    child ??= await start();
    expect((await call('POST', '/v1/meters', { tenantId: 'crash', metric: 'peak', aggregation: 'max' })).status).toBe(201);
    expect((await call('POST', '/v1/mappings', { tenantId: 'crash', metric: 'peak', meterId: meter.id })).status).toBe(201);
    await call('POST', '/v1/customers', { tenantId: 'crash', customerRef: 'peak', stripeCustomerId: customer.id });
    const ts = (s: number) => new Date(Date.now() - 60_000 + s * 1000).toISOString();
    const events = [5, 9, 3].map((quantity, i) => ({ tenantId: 'crash', metric: 'peak', customerRef: 'peak', quantity, ts: ts(i), idempotencyKey: `peak-${i}` }));
    expect((await call('POST', '/v1/events/ingest', { events })).body.accepted).toBe(3);

    sandbox.setFaults({ dropAfterCommitRate: 1, latencyMs: 100 });
    void call('POST', '/v1/push/run', { tenantId: 'crash' }).catch(() => undefined);
    await killWhen(() => sandbox.events().some((e) => e.customer === customer.id));
    sandbox.setFaults({});

    child = await start();
    const peak = async () => (await call('GET', '/v1/push/status?tenantId=crash')).body.items.find((i: any) => i.metric === 'peak');
    expect(await peak()).toMatchObject({ status: 'pending', pushedTotal: 0, pendingIntent: { value: 9 } });
    expect((await call('POST', '/v1/push/run', { tenantId: 'crash' })).body.acked).toBe(1);
    expect(await peak()).toMatchObject({ status: 'ok', pushedTotal: 9 });
    expect(sandbox.totals({ meterId: meter.id, customer: customer.id })).toBe(9);
    expect(sandbox.events().filter((e) => e.customer === customer.id)).toHaveLength(1);
  }, 120_000);
});
