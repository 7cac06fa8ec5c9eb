import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../../test/support/service.js';
import { toClickHouseTime } from '../storage/time.js';
import { workersCheck } from './health.js';

// Workers record a heartbeat per job run; readiness (of any process) warns when a job has not run for three intervals.
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ STRIPE_SANDBOX_PORT: '0', PUSH_INTERVAL: 'PT1S' });
});
afterAll(async () => {
  await svc?.destroy();
});

describe('workers heartbeat', () => {
  it('passes while the push job runs, and says which job is missing or late', async () => {
    await new Promise((r) => setTimeout(r, 2500));
    const ready = await svc.request('GET', '/health/ready', { key: null });
    expect(ready.body.checks.workers).toMatchObject({ status: 'pass' });
    const beats = await svc.deps.storage.api.query({ query: "SELECT count() AS n FROM worker_heartbeats WHERE job = 'push' AND ok = 1", format: 'JSONEachRow' });
    expect(Number(((await beats.json()) as Array<{ n: string }>)[0]!.n)).toBeGreaterThan(0);

    await svc.deps.storage.api.insert({
      table: 'worker_heartbeats',
      values: [{ job: 'stale', worker: 'w1', last_run_at: toClickHouseTime(Date.now() - 300_000), ok: 1 }],
      format: 'JSONEachRow',
    });
    const check = workersCheck(svc.deps.storage.api, [
      { name: 'push', intervalMs: 1000 },
      { name: 'stale', intervalMs: 1000 },
      { name: 'never', intervalMs: 1000 },
    ], Date.now() - 120_000);
    const r = await check.run();
    expect(r.status).toBe('warn');
    expect(r.detail).toMatch(/last stale run 30\d s ago/);
    expect(r.detail).toMatch(/no never run recorded/);
    expect(r.detail).not.toMatch(/push/);
    // Within its grace period after start, a process does not warn about jobs that never ran.
    expect((await workersCheck(svc.deps.storage.api, [{ name: 'never', intervalMs: 1000 }]).run()).status).toBe('pass');
  });
});
