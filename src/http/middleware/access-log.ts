import type { Middleware } from 'koa';
import type { Ctx, State } from '../context.js';
import { routeTemplate } from './metrics.js';

const quiet = new Set(['/metrics', '/health/live', '/health/ready']);

/** One line per request: method, route, status, time and caller key id (never the key). */
export function accessLog(): Middleware<State> {
  return async (ctx, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      const line = {
        method: ctx.method,
        path: ctx.path,
        route: routeTemplate(ctx as unknown as Ctx),
        status: ctx.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
        keyId: ctx.state.principal?.keyId,
      };
      if (quiet.has(ctx.path) && ctx.status < 400) ctx.state.log.debug(line, 'request');
      else ctx.state.log.info(line, 'request');
    }
  };
}
