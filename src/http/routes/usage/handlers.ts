import type { Deps } from '../../deps.js';
import { parseQuery, type Ctx } from '../../context.js';
import { authorizeTenant } from '../../tenant-access.js';
import { sumDecimals } from '../../../counters/decimal.js';
import { periodTotals, usageHistory } from '../../../storage/queries/usage.js';
import { periodBounds, periodOf } from '../../../time/period.js';
import { historyQuerySchema, usageQuerySchema } from './schema.js';

/** GET /v1/usage: totals of one metric in one billing period (default: the current one), per customer. */
export function getUsage(deps: Deps) {
  return async (ctx: Ctx) => {
    const q = parseQuery(ctx, usageQuerySchema);
    const tenant = await authorizeTenant(deps, ctx, q.tenantId, 'read');
    const period = q.period ?? periodOf(Date.now(), tenant.timeZone);
    const bounds = periodBounds(period, tenant.timeZone);
    const rows = await periodTotals(deps.storage.api, { tenantId: q.tenantId, metric: q.metric, period, customerRef: q.customerRef ?? '' });
    ctx.body = {
      tenantId: q.tenantId,
      metric: q.metric,
      period: { name: period, timezone: tenant.timeZone, start: bounds.start.toISOString(), end: bounds.end.toISOString() },
      total: sumDecimals(rows.map((r) => r.total)),
      customers: rows.map((r) => ({ customerRef: r.customerRef, total: r.total, events: Number(r.eventCount) })),
    };
  };
}

/** GET /v1/usage/history: usage per hour or per day (in the tenant's zone) over [since, until). */
export function getHistory(deps: Deps) {
  return async (ctx: Ctx) => {
    const q = parseQuery(ctx, historyQuerySchema);
    const tenant = await authorizeTenant(deps, ctx, q.tenantId, 'read');
    const rows = await usageHistory(deps.storage.api, {
      tenantId: q.tenantId,
      metric: q.metric,
      customerRef: q.customerRef ?? '',
      since: new Date(q.since),
      until: new Date(q.until),
      step: q.step,
      timezone: tenant.timeZone,
    });
    ctx.body = {
      tenantId: q.tenantId,
      metric: q.metric,
      customerRef: q.customerRef ?? null,
      step: q.step,
      timezone: tenant.timeZone,
      since: new Date(q.since).toISOString(),
      until: new Date(q.until).toISOString(),
      total: sumDecimals(rows.map((r) => r.total)),
      buckets: rows.map((r) => ({ start: r.start, total: r.total, events: Number(r.eventCount) })),
    };
  };
}
