import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/storage/paths.js';
import { callService, spawnService, type ChildService } from '../support/child.js';
import { bashBlocks, jsonOutputs } from '../support/markdown.js';
import { freePort } from '../support/ports.js';

// The README's quick start, every `bash` block of it in order, against a real `stripemeter start` (the compiled CLI
// that `npm start` runs) on a fresh data directory: its generated admin key, its demo tenant and built-in Stripe
// sandbox. The push job waits an hour, so the quick start's own push is the one that sends the usage.
const run = promisify(execFile);
const readme = readFileSync(path.join(packageRoot, 'README.md'), 'utf8');
const quickStart = bashBlocks(readme).filter((b) => b.section.startsWith('Quick start'));
let child: ChildService;
let dir: string;

const start = async (sandboxPort: number) =>
  spawnService({
    STRIPEMETER_DATA_DIR: path.join(dir, 'data'),
    STRIPEMETER_ADMIN_KEY: '',
    STRIPE_SANDBOX_PORT: String(sandboxPort),
    PUSH_INTERVAL: 'PT1H',
    RECON_INTERVAL: 'PT1H',
  });

async function shell(code: string): Promise<any[]> {
  const { stdout } = await run('bash', ['-c', `set -euo pipefail\n${code.replaceAll('http://localhost:3000', child.url)}`], {
    cwd: dir,
    maxBuffer: 10 * 1024 * 1024,
  });
  return jsonOutputs(stdout);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'stripemeter-quickstart-'));
  child = await start(await freePort());
}, 60_000);

afterAll(async () => {
  child?.process.kill('SIGTERM');
  await child?.exited;
  rmSync(dir, { recursive: true, force: true });
});

describe('README quick start', () => {
  it('has the key, ingest, push and reconciliation steps', () => {
    const code = quickStart.map((b) => b.code).join('\n');
    for (const step of ['cat data/admin.key', '/v1/events/ingest', '/v1/push/run', '/v1/push/status', '/v1/reconciliation/run', '/v1/reconciliation/runs']) {
      expect(code).toContain(step);
    }
  });

  it("takes usage of a demo customer to the Stripe sandbox and reconciles it there, as each step's output says", async () => {
    const hour = new Date().getUTCHours();
    const out = await shell(quickStart.map((b) => b.code).join('\n'));
    const [c1, c2, c3, ingest, usage, push, status, recon, ...rest] = out;
    expect([c1, c2, c3].map((c) => c.customerRef)).toEqual(['cus_1', 'cus_2', 'cus_3']);
    const stripeCustomer = c1.stripeCustomerId;
    expect(stripeCustomer).toMatch(/^cus_\w+$/);
    expect(ingest).toEqual({ accepted: 2, duplicates: 0, rejected: 0 });
    expect(usage).toMatchObject({ total: '7', customers: [{ customerRef: 'cus_1', total: '7', events: 2 }] });
    expect(push).toEqual({ acked: 1, unitsPushed: 7, failed: 0 });
    expect(status).toEqual({ customerRef: 'cus_1', period: usage.period, localTotal: '7', pushedTotal: 7, status: 'ok', stripeCustomerId: stripeCustomer });
    expect(recon).toMatchObject({ status: 'succeeded', counts: { ok: 1 }, items: [{ customerRef: 'cus_1', period: usage.period, local: '7', stripe: '7', status: 'ok' }] });
    const health = rest.pop();
    expect(rest).toContainEqual({ id: recon.id, trigger: 'api', status: 'succeeded', counts: { ok: 1 } });
    expect(health).toEqual({ status: 'degraded' });

    // Run again, as the README says: the same events are duplicates, and nothing more goes to Stripe.
    const again = await shell(quickStart.map((b) => b.code).join('\n'));
    // The events' ts is the hour's start: in a later hour the same keys carry other content and are refused instead.
    const sameHour = new Date().getUTCHours() === hour;
    expect(again[3]).toEqual(sameHour ? { accepted: 0, duplicates: 2, rejected: 0 } : { accepted: 0, duplicates: 0, rejected: 2 });
    expect(again[4].total).toBe('7');
    expect(again[5]).toEqual({ acked: 0, unitsPushed: 0, failed: 0 });
    expect(again[7]).toMatchObject({ status: 'succeeded', items: [{ local: '7', stripe: '7', status: 'ok' }] });
  }, 60_000);

  it("keeps the demo's Stripe bindings across a restart, and its usage pushed", async () => {
    const key = readFileSync(path.join(dir, 'data', 'admin.key'), 'utf8').trim();
    const bindings = async () => ({
      mapping: (await callService(child.url, key, 'GET', '/v1/mappings/demo/requests')).body.meterId,
      customers: (await callService(child.url, key, 'GET', '/v1/customers?tenantId=demo')).body.customers.map((c: any) => [c.customerRef, c.stripeCustomerId]),
    });
    const before = await bindings();
    child.process.kill('SIGTERM');
    await child.exited;
    child = await start(await freePort());
    expect(await bindings()).toEqual(before);
    const status = (await callService(child.url, key, 'GET', '/v1/push/status?tenantId=demo')).body;
    expect(status.items).toMatchObject([{ customerRef: 'cus_1', localTotal: '7', pushedTotal: 7, status: 'ok' }]);
  }, 60_000);
});
