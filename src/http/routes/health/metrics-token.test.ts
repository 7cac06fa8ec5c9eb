import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../config.js';
import { startTestService, type TestService } from '../../../../test/support/service.js';

// With METRICS_TOKEN set, /metrics (whose labels name tenants and customers) answers only a scrape carrying it.
const token = 'metrics-token-for-the-test-0123456789';
let svc: TestService;

beforeAll(async () => {
  svc = await startTestService({ METRICS_TOKEN: token });
});
afterAll(async () => {
  await svc?.destroy();
});

const scrape = (authorization?: string) => svc.request('GET', '/metrics', { key: null, headers: authorization ? { authorization } : {} });

describe('GET /metrics with METRICS_TOKEN set', () => {
  it('answers 401 without a token, naming the header to send', async () => {
    const r = await scrape();
    expect(r.status).toBe(401);
    expect(r.body.error).toEqual({ code: 'unauthorized', message: 'missing metrics token: send Authorization: Bearer <METRICS_TOKEN>' });
    expect(r.headers.get('www-authenticate')).toMatch(/^Bearer /);
  });

  it('answers 401 to a wrong token, of any length, and to the admin key', async () => {
    const wrong = [token.slice(0, -1) + 'X', token.slice(0, -1), `${token}0`, 'x', svc.adminKey];
    for (const candidate of wrong) {
      const r = await scrape(`Bearer ${candidate}`);
      expect(r.status, candidate).toBe(401);
      expect(r.body.error).toEqual({ code: 'unauthorized', message: 'invalid metrics token' });
      expect(String(JSON.stringify(r.body))).not.toContain(token);
    }
    expect((await scrape(`Basic ${Buffer.from(`u:${token}`).toString('base64')}`)).status).toBe(401);
    expect((await svc.request('GET', '/metrics', { key: null, headers: { 'x-api-key': token } })).status).toBe(401);
  });

  it('answers 200 with Prometheus text to the token', async () => {
    for (const header of [`Bearer ${token}`, `bearer ${token}`]) {
      const r = await scrape(header);
      expect(r.status).toBe(200);
      expect(String(r.body)).toContain('# HELP');
    }
  });

  it('leaves the health probes open and never writes the token to the log', async () => {
    expect((await svc.request('GET', '/health/live', { key: null })).status).toBe(200);
    expect(svc.logText()).not.toContain(token);
    expect(svc.logs.some((l) => l.msg === 'stripemeter listening' && l.metricsToken === true)).toBe(true);
  });
});

describe('METRICS_TOKEN', () => {
  it('refuses a short token or one with spaces at start, without echoing it', () => {
    for (const bad of ['short', 'a token with spaces in it 0123456789', `${'x'.repeat(30)}\u00e9`]) {
      let message = '';
      try {
        loadConfig({ METRICS_TOKEN: bad });
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message, bad).toMatch(/METRICS_TOKEN: must be/);
      expect(message).not.toContain(bad);
    }
    expect(loadConfig({ METRICS_TOKEN: '' }).metricsToken).toBeUndefined();
  });
});
