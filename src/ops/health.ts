import type { ClickHouseClient } from '@clickhouse/client';
import { migrationStatus } from '../storage/migrations.js';

export type CheckResult = { status: 'pass' | 'warn' | 'fail'; detail?: string; ms?: number };
export type Readiness = { status: 'healthy' | 'degraded' | 'unhealthy'; checks: Record<string, CheckResult> };

/** A named check; `critical` failures make the service unhealthy, others degrade it. */
export type Check = { name: string; critical: boolean; run: () => Promise<CheckResult> };

export function storageCheck(client: ClickHouseClient): Check {
  return {
    name: 'storage',
    critical: true,
    async run() {
      const started = performance.now();
      const rs = await client.query({ query: 'SELECT 1 AS ok SETTINGS max_execution_time = 2', format: 'JSONEachRow' });
      await rs.json();
      return { status: 'pass', ms: Math.round(performance.now() - started) };
    },
  };
}

export function migrationsCheck(client: ClickHouseClient): Check {
  return {
    name: 'migrations',
    critical: true,
    async run() {
      const s = await migrationStatus(client);
      if (s.edited.length || s.unknown.length || s.pending.length) {
        return {
          status: 'fail',
          detail: [
            s.pending.length ? `pending: ${s.pending.join(', ')}` : '',
            s.edited.length ? `edited after apply: ${s.edited.join(', ')}` : '',
            s.unknown.length ? `unknown: ${s.unknown.join(', ')}` : '',
          ]
            .filter(Boolean)
            .join('; '),
        };
      }
      return { status: 'pass', detail: `${s.applied} applied` };
    },
  };
}

export async function readiness(checks: Check[], timeoutMs = 3000): Promise<Readiness> {
  const results: Record<string, CheckResult> = {};
  let status: Readiness['status'] = 'healthy';
  await Promise.all(
    checks.map(async (c) => {
      let r: CheckResult;
      try {
        r = await Promise.race([
          c.run(),
          new Promise<CheckResult>((resolve) => setTimeout(() => resolve({ status: 'fail', detail: 'timed out' }), timeoutMs).unref()),
        ]);
      } catch (err) {
        r = { status: 'fail', detail: (err as Error).message.split('\n')[0] };
      }
      results[c.name] = r;
      if (r.status === 'fail' && c.critical) status = 'unhealthy';
      else if (r.status !== 'pass' && status === 'healthy') status = 'degraded';
    }),
  );
  return { status, checks: results };
}
