import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { openStorage } from '../storage/client.js';
import { backupTables } from '../storage/queries/lifecycle.js';
import { startStripeSandbox, type StripeSandbox } from '../stripe/sandbox/server.js';
import { event, startTestService, type TestService } from '../../test/support/service.js';
import { tenantWithMeter } from '../../test/support/stripe.js';
import { restore } from './restore.js';

const customers = ['c1', 'c2', 'c3'];
let sandbox: StripeSandbox;
let root: string;
const dirs: string[] = [];
const newDir = (name: string) => {
  const d = mkdtempSync(path.join(os.tmpdir(), `stripemeter-${name}-`));
  dirs.push(d);
  return d;
};

beforeAll(async () => {
  sandbox = await startStripeSandbox({ port: 0 });
  root = newDir('backups');
});
afterAll(async () => {
  await sandbox?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Per table: rows and a content hash, of the merged rows where the engine merges (so merges in between do not count). */
async function tableChecksums(client: ClickHouseClient): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of await backupTables(client, {})) {
    if (t.name === 'schema_migrations') continue;
    const final = t.engine === 'MergeTree' ? '' : 'FINAL';
    // Aggregate states need not serialise the same after different merges: their tables are compared by rows.
    const columns = await (await client.query({ query: 'SELECT type FROM system.columns WHERE database = currentDatabase() AND table = {t:String}', query_params: { t: t.name }, format: 'JSONEachRow' })).json<{ type: string }>();
    const hash = columns.some((c) => c.type.startsWith('AggregateFunction')) ? '0' : 'sum(cityHash64(*))';
    const rs = await client.query({ query: `SELECT count() AS n, toString(${hash}) AS h FROM {t:Identifier} ${final}`, query_params: { t: t.name }, format: 'JSONEachRow' });
    const [row] = await rs.json<{ n: string; h: string }>();
    out[t.name] = `${row!.n}:${row!.h}`;
  }
  return out;
}

async function waitForBackup(svc: TestService, id: string) {
  for (;;) {
    const r = await svc.request('GET', `/v1/admin/backups/${id}`);
    expect(r.status).toBe(200);
    if (r.body.status !== 'running') return r.body;
    await new Promise((res) => setTimeout(res, 50));
  }
}

const usage = async (svc: TestService) => {
  const r = await svc.request('GET', '/v1/usage?tenantId=bk&metric=calls');
  return Object.fromEntries((r.body.customers as Array<{ customerRef: string; total: string }>).map((c) => [c.customerRef, Number(c.total)]));
};

describe('backup and restore', () => {
  it('backs up online during ingest, incrementally, restores every table equal, and pushes go on without double counting', async () => {
    const env = { STRIPE_API_BASE: sandbox.url, BACKUP_ROOT: root, PUSH_INTERVAL: 'PT1H', RECON_INTERVAL: 'PT1H' };
    const a = await startTestService(env);
    const stripe = await tenantWithMeter(a, 'bk', 'calls', customers, 'UTC', sandbox);
    let n = 0;
    const batch = (size: number) => Array.from({ length: size }, () => event({ tenantId: 'bk', metric: 'calls', customerRef: customers[n % 3], quantity: (n % 7) + 1, idempotencyKey: `k-${n++}` }));
    const firstBatch = batch(500);
    expect((await a.request('POST', '/v1/events/ingest', { body: { events: firstBatch } })).body.accepted).toBe(500);
    for (let i = 0; i < 3; i++) expect((await a.request('POST', '/v1/events/ingest', { body: { events: batch(500) } })).status).toBe(200);
    expect((await a.request('POST', '/v1/push/run', { body: { tenantId: 'bk' } })).status).toBe(200);
    const pushedBefore = await usage(a);
    for (const c of customers) expect(stripe.stripeTotal(c)).toBe(pushedBefore[c]);

    // Ingest keeps going while the first backup runs: the backup is one point in that stream.
    let ingesting = true;
    let accepted = 0;
    const ingest = (async () => {
      while (ingesting) {
        const r = await a.request('POST', '/v1/events/ingest', { body: { events: batch(200) } });
        accepted += r.body.accepted;
      }
    })();
    await new Promise((r) => setTimeout(r, 100));
    const dir = path.join(root, 'nightly');
    const started = await a.request('POST', '/v1/admin/backups', { body: { dir } });
    expect(started.status).toBe(202);
    const first = await waitForBackup(a, started.body.id);
    ingesting = false;
    await ingest;
    expect(first.status, first.error).toBe('succeeded');
    expect(first.result.partsCopied).toBeGreaterThan(0);
    expect(first.result.pauseMs).toBeLessThan(2000);
    expect(accepted).toBeGreaterThan(0);

    // A second backup into the same directory copies only what changed since.
    const second = await waitForBackup(a, (await a.request('POST', '/v1/admin/backups', { body: { dir } })).body.id);
    expect(second.status, second.error).toBe('succeeded');
    expect(second.result.partsReused).toBeGreaterThan(0);
    expect(second.result.bytesCopied).toBeLessThan(first.result.bytesCopied + second.result.bytesCopied);
    expect(readdirSync(path.join(dir, 'snapshots')).filter((f) => f.endsWith('.json'))).toHaveLength(2);
    const listed = await a.request('GET', '/v1/admin/backups?limit=1');
    expect(listed.body.backups.map((j: { id: string }) => j.id)).toEqual([second.id]);
    const rest = await a.request('GET', `/v1/admin/backups?limit=1&cursor=${listed.body.nextCursor}`);
    expect(rest.body).toEqual({ backups: [expect.objectContaining({ id: first.id, status: 'succeeded' })], nextCursor: null });
    expect(readdirSync(path.join(a.dataDir, 'clickhouse', 'shadow')).filter((f) => f.startsWith('stripemeter_backup_'))).toEqual([]);

    // Refused: outside BACKUP_ROOT, and a tenant-scoped caller.
    expect((await a.request('POST', '/v1/admin/backups', { body: { dir: os.tmpdir() } })).body.error.code).toBe('invalid_backup_dir');
    for (const dir of ['night\u0000ly', 'a\ud800b', 'tab\there']) {
      const bad = await a.request('POST', '/v1/admin/backups', { body: { dir } });
      expect([bad.status, bad.body.error.code], JSON.stringify(dir)).toEqual([400, 'invalid_request']);
    }
    const before = await tableChecksums(a.deps.storage.jobs);
    const usageBefore = await usage(a);
    await a.stop();

    // The latest snapshot into a data directory a service started on once, empty (its dedupe filter snapshot then
    // describes no keys; the restore must not let it stand): every table equal.
    const restoredDir = newDir('restored');
    await (await startTestService({ ...env, STRIPEMETER_DEMO_TENANT: 'false' }, restoredDir)).stop();
    expect(readdirSync(path.join(restoredDir, 'dedupe'))).toContain('key-filter.bin');
    const config = loadConfig({ STRIPEMETER_DATA_DIR: restoredDir });
    const storage = await openStorage(config);
    try {
      const r = await restore({ client: storage.jobs, dataDir: restoredDir, target: {}, dir });
      expect(r.snapshot).toBe(second.result.id);
      expect(await tableChecksums(storage.jobs)).toEqual(before);
      // The filter snapshot would cover keys by insert time, and restored keys keep theirs: it must go.
      expect(existsSync(path.join(restoredDir, 'dedupe', 'key-filter.bin'))).toBe(false);
    } finally {
      await storage.close();
    }

    const b = await startTestService(env, restoredDir);
    try {
      expect(await usage(b)).toEqual(usageBefore);
      // What A pushed stays pushed: B sends only the rest, so Stripe ends equal to usage, nothing counted twice.
      expect((await b.request('POST', '/v1/push/run', { body: { tenantId: 'bk' } })).status).toBe(200);
      for (const c of customers) expect(stripe.stripeTotal(c)).toBe(usageBefore[c]);
      // Dedupe survived: an event A stored is a duplicate on B.
      const again = await b.request('POST', '/v1/events/ingest', { body: { events: firstBatch.slice(0, 10) } });
      expect(again.body.duplicates).toBe(10);
      expect((await b.request('POST', '/v1/events/ingest', { body: { events: batch(50) } })).body.accepted).toBe(50);
      expect((await b.request('POST', '/v1/push/run', { body: { tenantId: 'bk' } })).status).toBe(200);
      const after = await usage(b);
      for (const c of customers) expect(stripe.stripeTotal(c)).toBe(after[c]);
    } finally {
      await b.stop();
    }

    // The backup taken during ingest is consistent on its own: counters equal the events it holds, keys equal events.
    const onlineDir = newDir('online');
    const online = await openStorage(loadConfig({ STRIPEMETER_DATA_DIR: onlineDir }));
    try {
      await restore({ client: online.jobs, dataDir: onlineDir, target: {}, dir, snapshot: first.result.id });
      const q = async (sql: string) => (await (await online.jobs.query({ query: sql, format: 'JSONEachRow' })).json<Record<string, string>>())[0]!;
      const events = await q("SELECT toString(count()) AS n, toString(sum(quantity)) AS q FROM events FINAL WHERE tenant_id = 'bk'");
      const counters = await q("SELECT toString(sum(events)) AS n, toString(sum(quantity)) AS q FROM usage_period_counters WHERE tenant_id = 'bk'");
      const keys = await q("SELECT toString(count(DISTINCT idempotency_key)) AS n FROM event_keys WHERE tenant_id = 'bk'");
      expect(Number(events.n)).toBeGreaterThan(2000);
      expect(counters).toEqual({ n: events.n, q: events.q });
      expect(keys.n).toBe(events.n);
    } finally {
      await online.close();
    }
  }, 120_000);
});
