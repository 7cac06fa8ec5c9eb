import type { Deps } from '../../deps.js';
import type { Ctx } from '../../context.js';
import { HttpError, validationError } from '../../errors.js';
import { authorizeTenant } from '../../tenant-access.js';
import { groupedUsage, type GroupedSource, type UsageWindow } from '../../../storage/queries/meters.js';
import { canonicalTimeZone, isValidTimeZone, localParts, offsetAt, periodBounds, periodOf } from '../../../time/period.js';
import { filterValueSchema, groupedQuerySchema } from './schema.js';
import { BeforeRetentionError } from '../../../lifecycle/retention.js';

const windowMs: Record<Exclude<UsageWindow, 'billing_period'>, number> = { PT1M: 60_000, PT1H: 3600_000, P1D: 86_400_000 };

/** Whether an instant starts a window in the zone (a minute, hour, local day or billing period). */
function startsWindow(ms: number, window: UsageWindow, timeZone: string): boolean {
  if (window === 'billing_period') return periodBounds(periodOf(ms, timeZone), timeZone).start.getTime() === ms;
  const p = localParts(ms, timeZone);
  const minute = ms % 1000 === 0 && p.second === 0;
  if (window === 'PT1M') return minute;
  if (window === 'PT1H') return minute && p.minute === 0;
  return minute && p.minute === 0 && p.hour === 0;
}

function windowCount(fromMs: number, toMs: number, window: UsageWindow): number {
  if (window !== 'billing_period') return Math.ceil((toMs - fromMs) / windowMs[window]);
  const [fy, fm] = new Date(fromMs).toISOString().slice(0, 7).split('-').map(Number) as [number, number];
  const [ty, tm] = new Date(toMs).toISOString().slice(0, 7).split('-').map(Number) as [number, number];
  return (ty - fy) * 12 + (tm - fm) + 1;
}

const badRequest = (code: string, message: string) => new HttpError(400, code, message);

/**
 * GET /v1/usage/query: a metric's usage per window (minute, hour, day in a time zone, or billing period), optionally
 * per customer and dimension, filtered on dimension values. Values follow the metric's aggregation and leave as
 * decimal strings. from and to must start windows; at most USAGE_QUERY_MAX_WINDOWS windows and USAGE_QUERY_MAX_ROWS rows.
 */
export function queryUsage(deps: Deps) {
  const grouped = (source: GroupedSource, input: Parameters<(typeof groupedUsage)['events']>[1]) => groupedUsage[source](deps.storage.api, input);
  // Windows asked for and rows answered: more is a 400, never a silent cut.
  const { maxRows, maxWindows } = deps.config.usageQuery;
  return async (ctx: Ctx) => {
    const own: Record<string, unknown> = {};
    const filters: Array<[string, string]> = [];
    for (const [key, value] of Object.entries(ctx.query)) {
      if (!key.startsWith('filter.')) {
        own[key] = value;
        continue;
      }
      const v = filterValueSchema.safeParse(value);
      if (!v.success) throw badRequest('invalid_request', `invalid query: ${key}: give one value of at most 1024 characters`);
      filters.push([key.slice('filter.'.length), v.data]);
    }
    const parsed = groupedQuerySchema.safeParse(own);
    if (!parsed.success) throw validationError(parsed.error, 'query');
    const q = parsed.data;
    const tenant = await authorizeTenant(deps, ctx, q.tenantId, 'read');
    const meter = await deps.meters.get(q.tenantId, q.metric);
    const dimensions = new Set(meter?.dimensions ?? []);
    const dimensionsNote = dimensions.size > 0 ? `its dimensions are ${[...dimensions].join(', ')}` : 'it has no dimensions';

    for (const [name] of filters) {
      if (!dimensions.has(name)) throw badRequest('unknown_dimension', `filter.${name}: metric ${q.metric} has no dimension ${name}; ${dimensionsNote}`);
    }
    const groupBy = q.groupBy === undefined || q.groupBy === '' ? [] : q.groupBy.split(',');
    if (new Set(groupBy).size !== groupBy.length) throw badRequest('invalid_request', 'invalid query: groupBy: names must not repeat');
    for (const name of groupBy) {
      if (name !== 'customerRef' && !dimensions.has(name)) {
        throw badRequest('unknown_dimension', `groupBy: metric ${q.metric} has no dimension ${name}; group by customerRef or a dimension (${dimensionsNote})`);
      }
    }

    let timeZone = tenant.timeZone;
    if (q.timezone !== undefined) {
      if (!isValidTimeZone(q.timezone)) throw badRequest('invalid_request', `invalid query: timezone: unknown IANA time zone ${q.timezone}`);
      timeZone = canonicalTimeZone(q.timezone);
      if (q.window === 'billing_period' && timeZone !== tenant.timeZone) {
        throw badRequest('invalid_request', `invalid query: timezone: billing periods are in the tenant's zone (${tenant.timeZone}); leave timezone out`);
      }
    }
    const fromMs = Date.parse(q.from);
    const toMs = Date.parse(q.to);
    for (const [name, ms] of [['from', fromMs], ['to', toMs]] as const) {
      if (!startsWindow(ms, q.window, timeZone)) {
        throw badRequest('window_misaligned', `${name} must start a ${q.window} window in ${timeZone} (e.g. a whole ${q.window === 'PT1M' ? 'minute' : q.window === 'PT1H' ? 'hour' : q.window === 'P1D' ? 'local midnight' : 'billing period'})`);
      }
    }
    const windows = windowCount(fromMs, toMs, q.window);
    if (windows > maxWindows) {
      throw badRequest('too_many_windows', `from..to holds ${windows} ${q.window} windows, more than ${maxWindows}; narrow the range or use a longer window`);
    }

    const wholeHours = offsetAt(fromMs, timeZone) % 3600_000 === 0 && offsetAt(toMs, timeZone) % 3600_000 === 0;
    const tenantDays = q.window === 'billing_period' || (q.window === 'P1D' && timeZone === tenant.timeZone);
    const source: GroupedSource =
      meter && tenantDays ? 'daily' : q.window === 'PT1M' || !wholeHours ? 'events' : meter ? 'states' : 'counters';
    if (source === 'events') {
      // Read from raw events, which retention drops: an earlier window would answer less than was counted.
      try {
        await deps.retention.policy.check(fromMs, 'the range');
      } catch (err) {
        if (!(err instanceof BeforeRetentionError)) throw err;
        throw badRequest('window_before_retention', `${err.message}. This query reads raw events (${q.window === 'PT1M' ? 'minute windows' : 'a zone whose offset is not whole hours'}); hourly, daily and billing-period windows in whole-hour zones read the counters`);
      }
    }
    const byCustomer = groupBy.includes('customerRef');
    const dimensionNames = groupBy.filter((g) => g !== 'customerRef');
    const rows = await grouped(source, {
      tenantId: q.tenantId,
      metric: q.metric,
      aggregation: meter?.aggregation ?? 'sum',
      from: new Date(fromMs),
      to: new Date(toMs),
      window: q.window,
      timezone: timeZone,
      byCustomer,
      groupBy: dimensionNames,
      filters,
      customerRef: q.customerRef ?? '',
      limit: maxRows + 1,
    });
    if (rows.length > maxRows) {
      throw badRequest('too_many_rows', `the answer holds more than ${maxRows} rows; narrow the range, group by fewer names, or filter`);
    }
    ctx.body = {
      tenantId: q.tenantId,
      metric: q.metric,
      aggregation: meter?.aggregation ?? 'sum',
      window: q.window,
      timezone: q.window === 'billing_period' ? tenant.timeZone : timeZone,
      from: new Date(fromMs).toISOString(),
      to: new Date(toMs).toISOString(),
      groupBy,
      rows: rows.map((r) => {
        const bounds = q.window === 'billing_period' ? periodBounds(r.period, tenant.timeZone) : undefined;
        return {
          windowStart: (bounds?.start ?? new Date(r.windowStart)).toISOString(),
          windowEnd: (bounds?.end ?? new Date(r.windowEnd)).toISOString(),
          ...(byCustomer ? { customerRef: r.customerRef } : {}),
          dimensions: Object.fromEntries(dimensionNames.map((name, i) => [name, r.dimensionValues[i] ?? ''])),
          value: r.value,
        };
      }),
    };
  };
}
