import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { event, startTestService, type TestService } from '../support/service.js';

// The service on a 64 MiB tmpfs this test mounts, filled until ingest refuses: every event it accepted is stored
// and counted once, readiness says why, and once the test frees space ingest takes the refused batch again.
const MiB = 2 ** 20;
const floor = 16 * MiB;
const inCi = process.env.CI === 'true';

const mountPoint = mkdtempSync(path.join(os.tmpdir(), 'stripemeter-disk-full-'));
let mountError: string | undefined;
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', mountPoint], { stdio: 'pipe' });
} catch (err) {
  mountError = String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim() || 'mount failed';
  rmSync(mountPoint, { recursive: true, force: true });
  if (!inCi) console.warn(`test/ops/disk-full.test.ts skipped: cannot mount a tmpfs here (${mountError}); it needs root`);
}

describe('tools', () => {
  it.runIf(inCi)('mounts a tmpfs (CI runs as root and must not skip the full-disk test)', () => {
    expect(mountError, 'mount -t tmpfs failed').toBeUndefined();
  });
});

describe.skipIf(mountError !== undefined)('a data volume that fills up', () => {
  const dataDir = path.join(mountPoint, 'data');
  const filler = path.join(mountPoint, 'filler');
  let svc: TestService;
  const free = () => {
    const s = statfsSync(mountPoint);
    return s.bavail * s.bsize;
  };

  beforeAll(async () => {
    svc = await startTestService(
      {
        STRIPE_SANDBOX_PORT: '0',
        DISK_CHECK_INTERVAL: 'PT0.1S',
        // Ingest keeps 16 MiB free (25% of 64 MiB, and the cap); readiness degrades below 40% (25.6 MiB).
        DISK_MIN_FREE_BYTES: String(floor),
        DISK_MIN_FREE_PERCENT: '25',
        DISK_LOW_FREE_PERCENT: '40',
      },
      dataDir,
    );
  });

  afterAll(async () => {
    await svc?.stop();
    execFileSync('umount', [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });

  const diskCheck = async () => (await svc.request('GET', '/health/ready', { key: null })).body.checks.disk as { status: string; detail: string };
  const until = async (what: string, ok: () => Promise<boolean>, ms = 5000) => {
    const deadline = Date.now() + ms;
    while (!(await ok())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const metric = async (name: string) => {
    const text = (await svc.request('GET', '/metrics', { key: null })).body as string;
    return Number(new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1]);
  };
  const usage = async () => {
    const r = await svc.request('GET', '/v1/usage?tenantId=demo&metric=disk_fill');
    expect(r.status).toBe(200);
    return { total: r.body.total as string, events: (r.body.customers as Array<{ events: number }>).reduce((n, c) => n + Number(c.events), 0) };
  };
  const stored = async () => {
    const rs = await svc.deps.storage.api.query({
      query: "SELECT count() AS rows, uniqExact(idempotency_key) AS keys FROM events WHERE tenant_id = 'demo' AND metric = 'disk_fill'",
      format: 'JSONEachRow',
    });
    const [row] = await rs.json<{ rows: string; keys: string }>();
    return { rows: Number(row!.rows), keys: Number(row!.keys) };
  };

  let n = 0;
  const batch = (size: number) =>
    Array.from({ length: size }, () => {
      n++;
      return event({ metric: 'disk_fill', customerRef: `cus_${n % 3}`, quantity: (n % 7) + 1, idempotencyKey: `fill-${n}` });
    });
  const sum = (events: Array<Record<string, unknown>>) => events.reduce((s, e) => s + Number(e.quantity), 0);

  it('refuses ingest with 507 before the volume is full, loses nothing it accepted, and recovers once space is freed', async () => {
    expect((await diskCheck()).status).toBe('pass');

    // Leave 8 MiB above the floor, so a few batches fill the rest.
    writeFileSync(filler, Buffer.alloc(Math.floor((free() - floor - 8 * MiB) / 4096) * 4096));
    await until('readiness to degrade below DISK_LOW_FREE_PERCENT', async () => (await diskCheck()).status === 'warn');
    expect((await diskCheck()).detail).toMatch(/below DISK_LOW_FREE_PERCENT \(40%\)$/);

    const started = performance.now();
    let accepted = 0;
    let acceptedQuantity = 0;
    let batches = 0;
    const sent: Array<Array<Record<string, unknown>>> = [];
    let refused: { events: Array<Record<string, unknown>>; status: number; body: any; headers: Headers } | undefined;
    while (!refused) {
      expect(batches, 'ingest never refused').toBeLessThan(200);
      const events = batch(5000);
      const r = await svc.request('POST', '/v1/events/ingest', { body: { events } });
      if (r.status === 507) {
        refused = { events, ...r };
        break;
      }
      expect(r.status, JSON.stringify(r.body).slice(0, 300)).toBe(200);
      expect(r.body.accepted).toBe(events.length);
      accepted += r.body.accepted;
      acceptedQuantity += sum(events);
      batches++;
      sent.push(events);
    }
    const fillMs = performance.now() - started;
    const freeAtRefusal = free();
    console.log(
      `disk-full: ${accepted} events in ${batches} batches accepted in ${Math.round(fillMs)} ms, then 507 with ` +
        `${(freeAtRefusal / MiB).toFixed(1)} MiB free (floor ${floor / MiB} MiB)`,
    );

    // The refusal: whole, clear, with Retry-After, before the volume ran out.
    expect(refused.body.error.code).toBe('insufficient_storage');
    expect(refused.body.error.message).toMatch(/^the data volume has \d+\.\d MiB free \(\d+\.\d%\), below the 16\.0 MiB the service keeps free \(DISK_MIN_FREE_BYTES, DISK_MIN_FREE_PERCENT\); nothing from this request was stored/);
    expect(refused.body.error.message).not.toContain(mountPoint);
    expect(refused.headers.get('retry-after')).toBe('30');
    expect(freeAtRefusal).toBeGreaterThan(floor / 2);
    expect(accepted).toBeGreaterThan(0);

    // Nothing accepted is lost or counted twice; nothing of the refused batch is stored.
    expect(await usage()).toEqual({ total: String(acceptedQuantity), events: accepted });
    expect(await stored()).toEqual({ rows: accepted, keys: accepted });
    // the engine never ran out of space mid-insert
    expect(svc.logs.filter((l) => Number(l.level) >= 50).map((l) => l.msg)).toEqual([]);

    const ready = await svc.request('GET', '/health/ready', { key: null });
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('degraded');
    expect(ready.body.checks.disk.status).toBe('warn');
    expect(ready.body.checks.disk.detail).toMatch(/below 16\.0 MiB: ingest and replay apply are refused \(507\)$/);
    expect(await metric('ingest_refused_total{reason="disk"}')).toBeGreaterThanOrEqual(1);
    expect(await metric('storage_volume_free_bytes')).toBeLessThan(await metric('storage_volume_min_free_bytes'));
    expect(await metric('storage_volume_size_bytes')).toBe(64 * MiB);
    expect(await metric('storage_table_bytes{table="events"}')).toBeGreaterThan(0);

    // Replay apply writes too: refused; a dry-run only reads.
    const replay = { tenantId: 'demo', metrics: ['disk_fill'], since: '-PT1H' };
    const apply = await svc.request('POST', '/v1/replay', { body: { ...replay, mode: 'apply' } });
    expect(apply.status).toBe(507);
    expect(apply.body.error.message).toMatch(/; the replay was not started: free space, then apply again$/);
    expect((await svc.request('POST', '/v1/replay', { body: { ...replay, mode: 'dry-run' } })).body.result.summary).toBeDefined();

    // Space returns: within a sample or two, readiness passes and the refused batch goes in.
    const recovering = performance.now();
    unlinkSync(filler);
    await until('the disk check to pass', async () => (await diskCheck()).status === 'pass');
    const again = await svc.request('POST', '/v1/events/ingest', { body: { events: refused.events } });
    console.log(`disk-full: ingest took the refused batch again ${Math.round(performance.now() - recovering)} ms after the filler was deleted`);
    expect(again.status).toBe(200);
    expect(again.body.accepted).toBe(refused.events.length);
    // a client retrying a batch that was accepted before the refusal gets duplicates, never a second count
    const retry = await svc.request('POST', '/v1/events/ingest', { body: { events: sent.at(-1) } });
    expect(retry.body.duplicates).toBe(sent.at(-1)!.length);

    const total = accepted + refused.events.length;
    expect(await usage()).toEqual({ total: String(acceptedQuantity + sum(refused.events)), events: total });
    expect(await stored()).toEqual({ rows: total, keys: total });
    expect(svc.logs.filter((l) => Number(l.level) >= 50).map((l) => l.msg)).toEqual([]);
  });
});
