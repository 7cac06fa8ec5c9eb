import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createStripeClient } from '../../src/stripe/client.js';
import { sandboxKey } from '../../src/stripe/runtime.js';
import { startStripeSandbox, type StripeSandbox } from '../../src/stripe/sandbox/server.js';
import { spawnService, type ChildService, callService } from '../support/child.js';

// SIGTERM while a push waits on a Stripe that accepts connections and never answers: the process must exit within
// SHUTDOWN_TIMEOUT, and the push, left pending, must land exactly once after a restart against a working Stripe.
const adminKey = 'shutdown-test-admin-key-0123456789abcdef';
const shutdownTimeoutMs = 4000;
let sandbox: StripeSandbox;
let silent: net.Server;
let silentUrl: string;
let meterRequests = 0;
const sockets = new Set<net.Socket>();
let dataDir: string;
let child: ChildService | undefined;

beforeAll(async () => {
  sandbox = await startStripeSandbox({ port: 0 });
  silent = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('data', (chunk) => {
      if (chunk.toString().includes('/v1/billing/meter_events')) meterRequests++;
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  silentUrl = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'stripemeter-shutdown-'));
});
afterAll(async () => {
  child?.process.kill('SIGKILL');
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => silent?.close(resolve));
  await sandbox?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const start = (stripeUrl: string) =>
  spawnService({
    STRIPEMETER_DATA_DIR: dataDir,
    STRIPEMETER_ADMIN_KEY: adminKey,
    STRIPE_API_BASE: stripeUrl,
    PUSH_INTERVAL: 'PT1H',
    SHUTDOWN_TIMEOUT: `PT${shutdownTimeoutMs / 1000}S`,
  });

const call = (method: string, urlPath: string, body?: unknown) => callService(child!.url, adminKey, method, urlPath, body);

describe('shutdown with a push in flight against an unreachable Stripe', () => {
  it('defaults to 10 seconds', () => {
    expect(loadConfig({}).shutdownTimeoutMs).toBe(10_000);
    expect(() => loadConfig({ SHUTDOWN_TIMEOUT: 'PT0S' })).toThrow(/SHUTDOWN_TIMEOUT/);
  });

  it('exits within SHUTDOWN_TIMEOUT and the push lands exactly once after a restart', async () => {
    const stripe = createStripeClient({ secretKey: sandboxKey, apiBase: sandbox.url, timeoutMs: 5000 });
    const meter = await stripe.billing.meters.create({ display_name: 's', event_name: 'shutdown_calls', default_aggregation: { formula: 'sum' } });
    const customer = await stripe.customers.create({ name: 'c' });

    child = await start(sandbox.url);
    expect((await call('POST', '/v1/admin/tenants', { id: 'stop' })).status).toBe(201);
    expect((await call('POST', '/v1/mappings', { tenantId: 'stop', metric: 'calls', meterId: meter.id })).status).toBe(201);
    await call('POST', '/v1/customers', { tenantId: 'stop', customerRef: 'c', stripeCustomerId: customer.id });
    const ts = new Date().toISOString();
    expect((await call('POST', '/v1/events/ingest', { events: [{ tenantId: 'stop', metric: 'calls', customerRef: 'c', quantity: 7, ts }] })).body.accepted).toBe(1);
    child.process.kill('SIGTERM');
    expect(await child.exited).toBe(0);

    child = await start(silentUrl);
    void call('POST', '/v1/push/run', { tenantId: 'stop' }).catch(() => undefined);
    for (let i = 0; i < 200 && meterRequests === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(meterRequests).toBe(1);
    const signalled = performance.now();
    child.process.kill('SIGTERM');
    const code = await Promise.race([child.exited, new Promise((r) => setTimeout(() => r('still running'), shutdownTimeoutMs + 3000))]);
    const tookMs = performance.now() - signalled;
    expect(code).toBe(0);
    expect(tookMs).toBeLessThan(shutdownTimeoutMs + 2000);
    expect(child.output()).toMatch(/shutdown timed out|still waiting on Stripe/);

    child = await start(sandbox.url);
    const pending = await call('GET', '/v1/push/status?tenantId=stop');
    expect(pending.body.items[0]).toMatchObject({ status: 'pending', pushedTotal: 0, pendingIntent: { value: 7 } });
    expect((await call('POST', '/v1/push/run', { tenantId: 'stop' })).body.acked).toBe(1);
    expect((await call('POST', '/v1/push/run', { tenantId: 'stop' })).body.acked).toBe(0);
    expect(sandbox.events().filter((e) => e.customer === customer.id)).toHaveLength(1);
    expect(sandbox.totals({ meterId: meter.id, customer: customer.id })).toBe(7);
  }, 90_000);
});
