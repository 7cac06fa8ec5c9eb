import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { startTestService, type TestService } from '../../test/support/service.js';
import { openStorage } from './client.js';
import { appliedMigrations, migrate, readMigrations } from './migrations.js';
import { migrationIncludesDir, migrationsDir } from './paths.js';

// The files migrations include (the analyst views, replay's window view) used to live in sql/ beside the editable
// queries, and moved to migrations/includes/. A database migrated with the old layout recorded these checksums
// (computed by the build before the move); it must start with the new layout, nothing re-applied or refused.
const recordedBeforeTheMove: Record<number, string> = {
  12: '011c0ea1642be088dbe818d52c0c8bbc73d19ed6222714d4a27301ef3d7c47ae',
  15: '59e8e6520bd1e2b64027b7b371e62c4a06c032ab2c8e5449c3ab3b7af9636b17',
  16: 'a51719f64846234ed430eb9f851d3c805b91bf4d7b59e1279c0b336b0b54e0e5',
};

const scratch = mkdtempSync(path.join(os.tmpdir(), 'stripemeter-include-layout-'));
const dataDir = path.join(scratch, 'data');
const oldMigrations = path.join(scratch, 'old', 'migrations');
const oldSql = path.join(scratch, 'old', 'sql');
let svc: TestService | undefined;

/** The old layout: migrations/ held only NNNN_*.sql, and their includes were read from sql/ (views/, replay/). */
function oldLayout(): void {
  mkdirSync(oldMigrations, { recursive: true });
  for (const f of readdirSync(migrationsDir).filter((f) => f.endsWith('.sql'))) cpSync(path.join(migrationsDir, f), path.join(oldMigrations, f));
  cpSync(path.join(migrationIncludesDir, 'views'), path.join(oldSql, 'views'), { recursive: true });
  mkdirSync(path.join(oldSql, 'replay'));
  cpSync(path.join(migrationIncludesDir, 'replay', 'window_cells.sql'), path.join(oldSql, 'replay', 'window_cells.sql'));
}

beforeAll(async () => {
  oldLayout();
  const storage = await openStorage(loadConfig({ STRIPEMETER_DATA_DIR: dataDir, LOG_LEVEL: 'silent', STRIPE_SANDBOX_PORT: '0' }));
  try {
    await migrate(storage.jobs, {}, readMigrations(oldMigrations, oldSql));
    const ledger = await appliedMigrations(storage.jobs);
    for (const [version, checksum] of Object.entries(recordedBeforeTheMove)) {
      expect(ledger.find((a) => a.version === Number(version))?.checksum).toBe(checksum);
    }
  } finally {
    await storage.close();
  }
  svc = await startTestService({}, dataDir);
});
afterAll(async () => {
  await svc?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

describe('a database migrated with the old sql/ include layout', () => {
  it('has the same checksums in the new layout for every migration that includes a file', () => {
    const now = readMigrations();
    for (const [version, checksum] of Object.entries(recordedBeforeTheMove)) {
      expect(now.find((m) => m.version === Number(version))?.checksum).toBe(checksum);
    }
    expect(now.map((m) => m.checksum)).toEqual(readMigrations(oldMigrations, oldSql).map((m) => m.checksum));
  });

  it('starts with the new layout: migrations pass, nothing re-applied, the included views answer', async () => {
    const ready = await svc!.request('GET', '/health/ready');
    expect(ready.body.checks.migrations).toEqual({ status: 'pass', detail: `${readMigrations().length} applied` });
    expect(svc!.logs.some((l) => /applying migration/.test(String(l.msg)))).toBe(false);

    const ingest = await svc!.request('POST', '/v1/events/ingest', {
      body: { events: [{ tenantId: 'demo', metric: 'calls', customerRef: 'cus_1', quantity: '2.5', ts: new Date().toISOString(), idempotencyKey: 'k1' }] },
    });
    expect(ingest.body.accepted).toBe(1);
    const sql = (query: string) => svc!.request('POST', '/v1/sql', { body: { query } });
    const byPeriod = await sql("SELECT toString(quantity) AS q FROM usage_by_period WHERE tenant_id = 'demo' AND metric = 'calls'");
    expect(byPeriod.body.rows).toEqual([['2.5']]);
    const hour = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000);
    const cells = await sql(
      `SELECT count() AS n FROM replay_window_cells(tenantId = 'demo', metrics = ['calls'], customerRefs = [], ` +
        `start = toDateTime64('${hour.toISOString().slice(0, 19).replace('T', ' ')}', 3, 'UTC'), end = toDateTime64(now() + 3600, 3, 'UTC'))`,
    );
    expect(cells.status).toBe(200);
    expect(cells.body.rows).toEqual([['1']]);
  });
});
