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
      const matched = (ctx as unknown as Ctx)._matchedRoute;
      const labels = {
        method: ctx.method,
        route: typeof matched === 'string' ? matched : 'unmatched',
        status_code: String(ctx.status),
      };
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe(labels, (performance.now() - started) / 1000);
    }
  };
}
