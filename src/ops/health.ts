import type { ClickHouseClient } from '@clickhouse/client';
import { Gauge, type Registry } from 'prom-client';
import { migrationStatus } from '../storage/migrations.js';
import { StorageUnavailableError } from '../storage/errors.js';
import { latestHeartbeats, ping } from '../storage/queries/ops.js';

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
      await ping(client, {});
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

/**
 * Whether background jobs run somewhere: the latest run of each job, over every workers process, must be younger
 * than three intervals (at least a minute). A process gets a grace period after start before it warns.
 */
export function workersCheck(client: ClickHouseClient, jobs: Array<{ name: string; intervalMs: number }>, startedAt = Date.now()): Check {
  return {
    name: 'workers',
    critical: false,
    async run() {
      const beats = new Map((await latestHeartbeats(client, {})).map((b) => [b.job, b]));
      const problems: string[] = [];
      for (const job of jobs) {
        const limitMs = Math.max(3 * job.intervalMs, 60_000);
        const beat = beats.get(job.name);
        if (!beat) {
          if (Date.now() - startedAt > limitMs) problems.push(`no ${job.name} run recorded: is a workers process running?`);
        } else if (beat.ageMs > limitMs) {
          problems.push(`last ${job.name} run ${Math.round(beat.ageMs / 1000)} s ago`);
        } else if (!beat.ok) {
          problems.push(`last ${job.name} run failed`);
        }
      }
      return problems.length ? { status: 'warn', detail: problems.join('; ') } : { status: 'pass', detail: jobs.map((j) => j.name).join(', ') };
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
        // An operator reading readiness wants the engine's own first line, not the retry advice given to clients.
        const cause = err instanceof StorageUnavailableError && err.cause instanceof Error ? err.cause : (err as Error);
        r = { status: 'fail', detail: cause.message.split('\n')[0] };
      }
      results[c.name] = r;
      if (r.status === 'fail' && c.critical) status = 'unhealthy';
      else if (r.status !== 'pass' && status === 'healthy') status = 'degraded';
    }),
  );
  return { status, checks: results };
}

/**
 * `readiness_status` (1 healthy, 0.5 degraded, 0 unhealthy) and `readiness_check{check,status}` (1 for each check's
 * current status, 0 for the others), computed at each scrape from the same checks as GET /health/ready.
 */
export function registerReadinessMetrics(registry: Registry, checks: Check[]): void {
  let last: Promise<Readiness> | undefined;
  // Both gauges are collected in one scrape: run the checks once for it.
  const current = () => {
    last ??= readiness(checks).finally(() => setTimeout(() => (last = undefined), 100).unref());
    return last;
  };
  new Gauge({
    name: 'readiness_status',
    help: 'Readiness as GET /health/ready reports it: 1 healthy, 0.5 degraded, 0 unhealthy',
    registers: [registry],
    async collect() {
      const r = await current();
      this.set(r.status === 'healthy' ? 1 : r.status === 'degraded' ? 0.5 : 0);
    },
  });
  new Gauge({
    name: 'readiness_check',
    help: 'Each readiness check: 1 for its current status (pass, warn, fail), 0 for the others',
    labelNames: ['check', 'status'] as const,
    registers: [registry],
    async collect() {
      const r = await current();
      for (const c of checks) {
        for (const status of ['pass', 'warn', 'fail'] as const) this.set({ check: c.name, status }, r.checks[c.name]?.status === status ? 1 : 0);
      }
    },
  });
}
