import type { Middleware } from 'koa';
import type { Metrics } from '../../ops/metrics.js';
import type { Ctx, State } from '../context.js';

/** Counts and times requests by the matched route template (`/v1/events/ingest`), never the raw path. */
export function httpMetrics(metrics: Metrics): Middleware<State> {
  return async (ctx, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      const labels = {
        method: ctx.method,
        route: routeTemplate(ctx as unknown as Ctx),
        status_code: String(ctx.status),
      };
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe(labels, (performance.now() - started) / 1000);
    }
  };
}

/**
 * The template of the route that matched path and method (`/v1/admin/api-keys/:id/revoke`), else `unmatched`. Taken
 * from the router's matched layers, not `_matchedRoute`: router-level middleware (authentication, body parsing)
 * overwrites that with its own catch-all pattern, which stays when it answers the request itself (401, 400, 413).
 */
export function routeTemplate(ctx: Ctx): string {
  const layers = ((ctx as { matched?: unknown }).matched ?? []) as Array<{ path: unknown; methods: string[] }>;
  const route = layers.findLast((l) => typeof l.path === 'string' && l.methods.includes(ctx.method));
  return route ? (route.path as string) : 'unmatched';
}
