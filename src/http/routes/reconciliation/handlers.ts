import type { Deps } from '../../deps.js';
import { parseBody, parseQuery, requireScope, requireTenant, type Ctx } from '../../context.js';
import { HttpError, validationError } from '../../errors.js';
import { newestFirst } from '../../pagination.js';
import { authorizeTenant, listedTenant } from '../../tenant-access.js';
import { listRunsQuerySchema, runIdSchema, runSchema, summaryQuerySchema } from './schema.js';

/**
 * GET /v1/reconciliation/summary: per item, local totals as of now against Stripe's totals as of the latest run,
 * with status under the drift policy and the likely causes of any difference.
 */
export function summary(deps: Deps) {
  return async (ctx: Ctx) => {
    const q = parseQuery(ctx, summaryQuerySchema);
    await authorizeTenant(deps, ctx, q.tenantId, 'read');
    const { run, items } = await deps.reconcile.reconciler.summary(q.tenantId, q.metric ?? null, q.period ?? null);
    const counts: Record<string, number> = {};
    for (const i of items) counts[i.status] = (counts[i.status] ?? 0) + 1;
    const beyond = items.filter((i) => i.diffPct !== null && i.diffPct > deps.config.recon.epsilon && i.status !== 'ok');
    ctx.body = {
      tenantId: q.tenantId,
      metric: q.metric ?? null,
      periods: [...new Set(items.map((i) => i.period))],
      epsilon: deps.config.recon.epsilon,
      stripeReadAt: run.finishedAt,
      runId: run.id,
      withinEpsilon: beyond.length === 0,
      counts,
      items,
    };
  };
}

/** POST /v1/reconciliation/run: a run now (after a running one), returned with its results. */
export function runNow(deps: Deps) {
  return async (ctx: Ctx) => {
    const body = parseBody(ctx, runSchema);
    await authorizeTenant(deps, ctx, body.tenantId, 'admin');
    const run = await deps.reconcile.runNow(body.tenantId, body.metric ?? null);
    ctx.status = run.status === 'succeeded' ? 200 : 502;
    ctx.body = run;
  };
}

export function getRun(deps: Deps) {
  return async (ctx: Ctx) => {
    const parsed = runIdSchema.safeParse(ctx.params);
    if (!parsed.success) throw validationError(parsed.error, 'path');
    const p = requireScope(ctx, 'read');
    const run = await deps.reconcile.reconciler.getRun(p.root ? null : p.tenantId, parsed.data.id);
    if (!run) throw new HttpError(404, 'not_found', `no reconciliation run ${parsed.data.id}`);
    requireTenant(ctx, run.tenantId);
    ctx.body = run;
  };
}

/** GET /v1/reconciliation/runs: runs without their items, newest first; `nextCursor` pages on. */
export function listRuns(deps: Deps) {
  return async (ctx: Ctx) => {
    const { tenantId, cursor, limit, ...filter } = parseQuery(ctx, listRunsQuerySchema);
    const tenant = await listedTenant(deps, ctx, tenantId, 'read');
    const rows = await deps.reconcile.reconciler.listRuns({ ...filter, tenantId: tenant, before: newestFirst.before(cursor), limit: limit + 1 });
    const p = newestFirst.page(rows, limit, (r) => r.startedAt);
    ctx.body = { runs: p.items, nextCursor: p.nextCursor };
  };
}
