import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { event, startTestService, type TestService } from '../../test/support/service.js';
import { startStripeSandbox, type StripeSandbox } from './sandbox/server.js';

// A Stripe that rejects the service's key: mappings cannot be checked, pushes fail, readiness says why.
let sandbox: StripeSandbox;
let svc: TestService;
beforeAll(async () => {
  sandbox = await startStripeSandbox({ port: 0, apiKey: 'sk_test_the_right_key' });
  svc = await startTestService({ STRIPE_SECRET_KEY: 'sk_test_a_revoked_key', STRIPE_API_BASE: sandbox.url, PUSH_INTERVAL: 'PT1H' });
});
afterAll(async () => {
  await svc?.destroy();
  await sandbox?.close();
});

describe('a rejected Stripe key', () => {
  it('is reported by mapping checks, push status and readiness, and nothing is lost', async () => {
    const ready0 = await svc.request('GET', '/health/ready', { key: null });
    expect(ready0.body.checks.stripe).toMatchObject({ status: 'pass', detail: 'test mode' });

    const mapping = await svc.request('POST', '/v1/mappings', { body: { tenantId: 'demo', metric: 'calls', meterId: 'mtr_x' } });
    expect(mapping.status).toBe(502);
    expect(mapping.body.error.message).toMatch(/rejected the service's API key/);
    expect(JSON.stringify(mapping.body)).not.toContain('sk_test_a_revoked_key');

    // Mappings as an operator would have made them while the key still worked.
    await svc.deps.storage.api.insert({
      table: 'price_mappings',
      values: [{ tenant_id: 'demo', metric: 'calls', meter_id: 'mtr_x', event_name: 'calls', active: 1, version: '1' }],
      format: 'JSONEachRow',
    });
    await svc.deps.storage.api.insert({
      table: 'customer_mappings',
      values: [{ tenant_id: 'demo', customer_ref: 'cus_1', stripe_customer_id: 'cus_x', version: '1' }],
      format: 'JSONEachRow',
    });
    await svc.request('POST', '/v1/events/ingest', { body: { events: [event({ metric: 'calls', quantity: 2 })] } });
    const run = await svc.request('POST', '/v1/push/run', { body: { tenantId: 'demo' } });
    expect(run.body).toMatchObject({ failed: 1, acked: 0 });
    expect(run.body.authError).toBeTruthy();
    const item = (await svc.request('GET', '/v1/push/status?tenantId=demo')).body.items.find((i: any) => i.metric === 'calls');
    expect(item).toMatchObject({ status: 'error', localTotal: '2', pushedTotal: 0, lastError: { code: 'authentication', httpStatus: 401 } });

    const ready = await svc.request('GET', '/health/ready', { key: null });
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('degraded');
    expect(ready.body.checks.stripe.detail).toMatch(/Stripe rejected the key/);
    expect(svc.logText()).not.toContain('sk_test_a_revoked_key');
    const metrics = (await svc.request('GET', '/metrics', { key: null })).body as string;
    expect(metrics).toContain('stripe_api_errors_total{type="auth",status="401"} 1');
  });
});
