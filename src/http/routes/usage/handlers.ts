import type { Deps } from '../../deps.js';
import { parseQuery, type Ctx } from '../../context.js';
import { HttpError } from '../../errors.js';
import { authorizeTenant } from '../../tenant-access.js';
import { sumDecimals } from '../../../counters/decimal.js';
import { periodTotals, usageHistory } from '../../../storage/queries/usage.js';
import { periodValues } from '../../../storage/queries/meters.js';
import { additive } from '../../../meters/definitions.js';
import { periodBounds, periodOf } from '../../../time/period.js';
import { historyQuerySchema, usageQuerySchema } from './schema.js';

/** GET /v1/usage: one metric's value (per its meter's aggregation) in one billing period (default: the current one), per customer. */
export function getUsage(deps: Deps) {
  return async (ctx: Ctx) => {
    const q = parseQuery(ctx, usageQuerySchema);
    const tenant = await authorizeTenant(deps, ctx, q.tenantId, 'read');
    const period = q.period ?? periodOf(Date.now(), tenant.timeZone);
    const bounds = periodBounds(period, tenant.timeZone);
    const aggregation = (await deps.meters.get(q.tenantId, q.metric))?.aggregation ?? 'sum';
    const head = {
      tenantId: q.tenantId,
      metric: q.metric,
      aggregation,
      period: { name: period, timezone: tenant.timeZone, start: bounds.start.toISOString(), end: bounds.end.toISOString() },
    };
    const params = { tenantId: q.tenantId, metric: q.metric, period, customerRef: q.customerRef ?? '' };
    if (!additive(aggregation)) {
      // Not a sum of its customers: the total is the meter's value over all of them (e.g. distinct over the period).
      const rows = await periodValues(deps.storage.api, { ...params, aggregation: aggregation as 'unique_count' | 'max' | 'latest' });
      const customers = rows.filter((r) => r.isTotal === 0);
      ctx.body = {
        ...head,
        total: rows.find((r) => r.isTotal === 1)?.value ?? '0',
        customers: customers.map((r) => ({ customerRef: r.customerRef, total: r.value, events: Number(r.eventCount) })),
      };
      return;
    }
    const rows = await periodTotals(deps.storage.api, params);
    const valueOf = (r: (typeof rows)[number]) => (aggregation === 'count' ? r.eventCount : r.total);
    ctx.body = {
      ...head,
      total: sumDecimals(rows.map(valueOf)),
      customers: rows.map((r) => ({ customerRef: r.customerRef, total: valueOf(r), events: Number(r.eventCount) })),
    };
  };
}

/** GET /v1/usage/history: usage per hour or per day (in the tenant's zone) over [since, until); sum and count meters. */
export function getHistory(deps: Deps) {
  return async (ctx: Ctx) => {
    const q = parseQuery(ctx, historyQuerySchema);
    const tenant = await authorizeTenant(deps, ctx, q.tenantId, 'read');
    const aggregation = (await deps.meters.get(q.tenantId, q.metric))?.aggregation ?? 'sum';
    if (!additive(aggregation)) {
      throw new HttpError(
        400,
        'aggregation_not_additive',
        `metric ${q.metric} is a ${aggregation} meter: its buckets and total are not sums; ` +
          'read them from GET /v1/usage/query (window PT1H or P1D)',
      );
    }
    const rows = await usageHistory(deps.storage.api, {
      tenantId: q.tenantId,
      metric: q.metric,
      customerRef: q.customerRef ?? '',
      since: new Date(q.since),
      until: new Date(q.until),
      step: q.step,
      timezone: tenant.timeZone,
    });
    const valueOf = (r: (typeof rows)[number]) => (aggregation === 'count' ? r.eventCount : r.total);
    ctx.body = {
      tenantId: q.tenantId,
      metric: q.metric,
      customerRef: q.customerRef ?? null,
      step: q.step,
      timezone: tenant.timeZone,
      since: new Date(q.since).toISOString(),
      until: new Date(q.until).toISOString(),
      aggregation,
      total: sumDecimals(rows.map(valueOf)),
      buckets: rows.map((r) => ({ start: r.start, total: valueOf(r), events: Number(r.eventCount) })),
    };
  };
}
