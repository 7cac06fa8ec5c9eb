import type { Deps } from '../../deps.js';
import type { Ctx } from '../../context.js';
import { readiness } from '../../../ops/health.js';

export const live = () => (ctx: Ctx) => {
  ctx.body = { status: 'ok' };
};

/** 200 when healthy or degraded (still serving), 503 when unhealthy. */
export function ready(deps: Deps) {
  return async (ctx: Ctx) => {
    const r = await readiness(deps.checks);
    ctx.status = r.status === 'unhealthy' ? 503 : 200;
    ctx.body = r;
  };
}

export function metrics(deps: Deps) {
  return async (ctx: Ctx) => {
    ctx.type = deps.metrics.registry.contentType;
    ctx.body = await deps.metrics.registry.metrics();
  };
}
