import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/storage/paths.js';
import { spawnService, type ChildService } from '../support/child.js';
import { bashBlocks, jsonOutputs } from '../support/markdown.js';
import { freePort } from '../support/ports.js';

// Every `bash` block of ops/RUNBOOK.md runs, in order, against a real `stripemeter start` (the compiled CLI that
// `npm start` runs) with data that gives each step something to show: usage pushed to the Stripe sandbox, a late
// event, and a change made on Stripe's side that reconciliation must bring back within epsilon.
const run = promisify(execFile);
const adminKey = 'runbook-test-admin-key-0123456789abcdef';
const metricsToken = 'runbook-test-metrics-token-0123456789';
let child: ChildService;
let dataDir: string;
let sandboxUrl: string;

const runbook = readFileSync(path.join(packageRoot, 'ops/RUNBOOK.md'), 'utf8');
const blocks = bashBlocks(runbook);
const prelude = blocks.find((b) => b.section.startsWith('0)'))!.code;

async function shell(code: string): Promise<string> {
  const script = `${prelude}\n${code.replaceAll('http://localhost:3000', child.url)}`;
  const { stdout } = await run('bash', ['-c', script], {
    cwd: dataDir,
    env: { ...process.env, STRIPEMETER_KEY: adminKey, METRICS_TOKEN: metricsToken },
    maxBuffer: 10 * 1024 * 1024,
  });
  return stdout;
}

async function api(method: string, urlPath: string, body?: unknown) {
  const res = await fetch(`${child.url}${urlPath}`, {
    method,
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return (await res.json()) as any;
}

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'stripemeter-runbook-'));
  const port = await freePort();
  child = await spawnService({
    STRIPEMETER_DATA_DIR: path.join(dataDir, 'data'),
    STRIPEMETER_ADMIN_KEY: adminKey,
    METRICS_TOKEN: metricsToken,
    STRIPE_SANDBOX_PORT: String(port),
    PUSH_INTERVAL: 'PT1H',
    RECON_SETTLE: 'PT0S',
    // Step 5 replays January 2025: older than the default retention keeps.
    RAW_EVENT_RETENTION: 'P3650D',
  });
  sandboxUrl = `http://127.0.0.1:${port}`;
  const now = Date.now();
  // 20 hours late, but never before this month began: the runbook reads the current billing period.
  const monthStart = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1);
  const lateTs = Math.max(now - 20 * 3600_000, monthStart);
  const ev = (customerRef: string, quantity: number, ts: number, key: string) => ({ tenantId: 'demo', metric: 'requests', customerRef, quantity, ts: new Date(ts).toISOString(), idempotencyKey: key });
  const ingest = await api('POST', '/v1/events/ingest', {
    events: [ev('cus_1', 1000, now, 'rb-1'), ev('cus_2', 300, now, 'rb-2'), ev('cus_2', 20, lateTs, 'rb-late')],
  });
  expect(ingest.results[2].lateness).toBe('late');
  expect((await api('POST', '/v1/push/run', { tenantId: 'demo' })).acked).toBe(2);
  // Usage changed on Stripe's side for cus_1: +3 on 1000 (0.3%, within epsilon).
  const customers = (await api('GET', '/v1/customers?tenantId=demo&customerRef=cus_1')).customers;
  const res = await fetch(`${sandboxUrl}/v1/billing/meter_events`, {
    method: 'POST',
    headers: { authorization: 'Bearer sk_test_runbook', 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ event_name: 'stripemeter_demo_requests', 'payload[stripe_customer_id]': customers[0].stripeCustomerId, 'payload[value]': '3' }),
  });
  expect(res.status).toBe(200);
}, 120_000);

afterAll(async () => {
  child?.process.kill('SIGTERM');
  await child?.exited;
  rmSync(dataDir, { recursive: true, force: true });
});

const section = (prefix: string) => blocks.filter((b) => b.section.startsWith(prefix));

describe('ops/RUNBOOK.md', () => {
  it('has a bash block for every step that promises an outcome', () => {
    for (const step of ['0)', '1)', '3)', '4)', '5)', '6)', '7)']) expect(section(step).length).toBeGreaterThan(0);
    // The seed runbook's commands are all there, with the auth header added.
    for (const needle of ['/health/ready | jq .', '/metrics | head -n 20', '/v1/reconciliation/summary?tenantId=demo&metric=requests', '"since": "-PT24H"', '"since": "2025-01-01T00:00:00Z"', '/v1/reconciliation/run']) {
      expect(runbook).toContain(needle);
    }
    for (const b of blocks.filter((b) => b.code.includes('curl') && b.code.includes('/v1/'))) expect(b.code).toContain('$AUTH');
  });

  it('1) health is healthy or degraded and the named metrics are exposed', async () => {
    const out = await shell(section('1)')[0]!.code);
    expect(['healthy', 'degraded']).toContain(jsonOutputs(out)[0].status);
    expect(out).toMatch(/^\s+\d+ http_requests_total$/m);
    expect(out).toMatch(/^\s+\d+ http_request_duration_seconds_bucket$/m);
    expect(out).toContain('Open http://localhost:9090/targets');
  });

  it('3) the summary names the affected item and its cause', async () => {
    await api('POST', '/v1/reconciliation/run', { tenantId: 'demo' });
    const out = await shell(section('3)')[0]!.code);
    const [summary, pushSummary, notOk, beyond] = jsonOutputs(out).concat(Number(out.trim().split('\n').at(-1)));
    expect(summary.items.map((i: any) => i.customerRef)).toEqual(['cus_1', 'cus_2']);
    // The run aligned cus_1 (0.3% within epsilon): the ledger now says Stripe holds 1003, and -3 is due.
    const cus1 = summary.items[0];
    expect(cus1).toMatchObject({ stripe: '1003', pushed: 1003, pending: -3, status: 'ok' });
    expect(cus1.causes).toContainEqual({ cause: 'unpushed_delta', units: -3 });
    expect(pushSummary).toBeTypeOf('object');
    expect(Array.isArray(notOk)).toBe(true);
    expect(beyond).toBe(0);
  });

  it('4) a dry-run, then an apply that changes nothing a second time', async () => {
    const [dry, apply, runs] = jsonOutputs(await shell(section('4)')[0]!.code));
    expect(dry).toMatchObject({ mode: 'dry-run', status: 'succeeded' });
    expect(dry.result.items.map((i: any) => i.customerRef)).toEqual(['cus_1', 'cus_2']);
    expect(dry.result.summary.changed).toBe(0);
    expect(apply).toMatchObject({ mode: 'apply', status: 'succeeded', result: { correctionsWritten: 0 } });
    // Both started within a second or so: newest first, and one second's runs by id.
    expect(runs).toHaveLength(2);
    expect(runs).toEqual(
      expect.arrayContaining([
        { id: apply.id, mode: 'apply', status: 'succeeded', window: apply.request.window.effective, changed: 0 },
        { id: dry.id, mode: 'dry-run', status: 'succeeded', window: dry.request.window.effective, changed: 0 },
      ]),
    );
  });

  it('5) targeted replays', async () => {
    const [period, customer] = jsonOutputs(await shell(section('5)')[0]!.code));
    expect(period).toMatchObject({ status: 'succeeded', request: { window: { effective: { since: '2025-01-01T00:00:00.000Z', until: '2025-02-01T00:00:00.000Z' } } } });
    expect(customer).toMatchObject({ items: 1 });
  });

  it('6) drift is back within epsilon', async () => {
    const [pushed, recon, summary, adjustments] = jsonOutputs(await shell(section('6)').map((b) => b.code).join('\n')));
    expect(pushed).toMatchObject({ acked: 1, unitsPushed: -3, failed: 0 });
    expect(recon).toMatchObject({ status: 'succeeded', counts: { ok: 2 } });
    expect(summary).toEqual({ withinEpsilon: true, counts: { ok: 2 } });
    expect(adjustments).toBeUndefined(); // no pending alignment left
  });

  it('7) a retention run reports its horizon and drops nothing held', async () => {
    const [run] = jsonOutputs(await shell(section('7)')[0]!.code));
    expect(Date.parse(run.horizon)).toBeLessThanOrEqual(Date.now() - 3650 * 86_400_000);
    expect(run).toMatchObject({ cutoff: run.horizon, heldBackBy: [] });
    for (const t of run.tables) expect(t).toMatchObject({ partitionsDropped: [], rowsDropped: 0, rowsDeleted: 0 });
  });
});
