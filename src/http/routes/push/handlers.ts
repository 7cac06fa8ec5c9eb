import type { Deps } from '../../deps.js';
import { parseBody, parseQuery, type Ctx } from '../../context.js';
import { HttpError } from '../../errors.js';
import { authorizeTenant } from '../../tenant-access.js';
import { pushRunSchema, pushStatusQuerySchema } from './schema.js';

/** GET /v1/push/status: every (metric, customer, period) of the tenant with local and pushed totals and its state. */
export function pushStatus(deps: Deps) {
  return async (ctx: Ctx) => {
    const q = parseQuery(ctx, pushStatusQuerySchema);
    await authorizeTenant(deps, ctx, q.tenantId, 'read');
    const items = await deps.push.engine.status(q.tenantId);
    const counts: Record<string, number> = {};
    for (const i of items) counts[i.status] = (counts[i.status] ?? 0) + 1;
    ctx.body = {
      tenantId: q.tenantId,
      stripe: { mode: deps.stripe.mode },
      lastCycleAt: deps.push.job.lastRunAt ? new Date(deps.push.job.lastRunAt).toISOString() : null,
      summary: counts,
      items,
    };
  };
}

/** POST /v1/push/run: one push cycle for the tenant now (after the running one, if any); returns its result. */
export function pushRun(deps: Deps) {
  return async (ctx: Ctx) => {
    const body = parseBody(ctx, pushRunSchema);
    await authorizeTenant(deps, ctx, body.tenantId, 'admin');
    if (!deps.push.workersHere) {
      throw new HttpError(409, 'workers_elsewhere', 'this process runs no workers; call the workers process or wait for the next cycle');
    }
    const [result] = await deps.push.job.runNow(body.tenantId);
    ctx.body = result;
  };
}
