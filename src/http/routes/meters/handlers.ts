import type { Deps } from '../../deps.js';
import { parseBody, parseQuery, type Ctx } from '../../context.js';
import { HttpError, validationError } from '../../errors.js';
import { authorizeTenant } from '../../tenant-access.js';
import { sameSpec, type Meter, type MeterSpec } from '../../../meters/definitions.js';
import { createMeterSchema, listMetersQuerySchema, meterPathSchema, updateMeterSchema } from './schema.js';
import { page } from '../../pagination.js';

function pathParams(ctx: Ctx) {
  const r = meterPathSchema.safeParse(ctx.params);
  if (!r.success) throw validationError(r.error, 'path');
  return r.data;
}

const notFound = (tenantId: string, metric: string) =>
  new HttpError(404, 'not_found', `metric ${metric} of tenant ${tenantId} has no meter definition (it is a sum with no dimensions)`);

const fixed = (tenantId: string, metric: string) =>
  new HttpError(
    409,
    'meter_has_events',
    `metric ${metric} of tenant ${tenantId} has stored events, which were aggregated as its meter stood when they arrived: ` +
      'its definition cannot change any more. Send the events under a new metric name with the meter you need',
  );

/**
 * Runs a definition change while the tenant's ingest is held (groups already taken have committed, later ones wait).
 * The metric must have no event, stored or queued (queued rows were prepared under the old definition); the last
 * check and putting the new definition in force for ingest happen in one synchronous step, so no event slips between.
 */
function whileNoEvents<T>(deps: Deps, tenantId: string, metric: string, next: MeterSpec | null, write: () => Promise<T>): Promise<T> {
  return deps.writer.exclusive(tenantId, async () => {
    if (await deps.meters.hasEvents(tenantId, metric)) throw fixed(tenantId, metric);
    if (deps.writer.queued(tenantId, metric)) throw fixed(tenantId, metric);
    return deps.meters.changing(tenantId, metric, next, write);
  });
}

const specOf = (b: { aggregation: Meter['aggregation']; uniqueBy?: string | undefined; dimensions: string[] }): MeterSpec => ({
  aggregation: b.aggregation,
  uniqueBy: b.uniqueBy ?? '',
  dimensions: b.dimensions,
});

/** POST /v1/meters: defines how a metric aggregates, before its first event (409 once it has events). */
export function createMeter(deps: Deps) {
  return async (ctx: Ctx) => {
    const body = parseBody(ctx, createMeterSchema);
    await authorizeTenant(deps, ctx, body.tenantId, 'admin');
    if (await deps.meters.get(body.tenantId, body.metric)) {
      throw new HttpError(409, 'meter_exists', `metric ${body.metric} has a meter already; see GET /v1/meters/${body.tenantId}/${body.metric}`);
    }
    ctx.status = 201;
    const spec = specOf(body);
    ctx.body = await whileNoEvents(deps, body.tenantId, body.metric, spec, () => deps.meters.put(body.tenantId, body.metric, spec));
  };
}

export function listMeters(deps: Deps) {
  return async (ctx: Ctx) => {
    const q = parseQuery(ctx, listMetersQuerySchema);
    await authorizeTenant(deps, ctx, q.tenantId, 'read');
    const p = page(await deps.meters.list(q.tenantId, q.metric ?? ''), (m) => m.metric, q);
    ctx.body = { meters: p.items, nextCursor: p.nextCursor };
  };
}

export function getMeter(deps: Deps) {
  return async (ctx: Ctx) => {
    const p = pathParams(ctx);
    await authorizeTenant(deps, ctx, p.tenantId, 'read');
    const meter = await deps.meters.get(p.tenantId, p.metric);
    if (!meter) throw notFound(p.tenantId, p.metric);
    ctx.body = meter;
  };
}

/** PUT: replaces the definition; refused (409) once the metric has events, unless nothing changes. */
export function updateMeter(deps: Deps) {
  return async (ctx: Ctx) => {
    const p = pathParams(ctx);
    const body = parseBody(ctx, updateMeterSchema);
    await authorizeTenant(deps, ctx, p.tenantId, 'admin');
    const existing = await deps.meters.get(p.tenantId, p.metric);
    if (!existing) throw notFound(p.tenantId, p.metric);
    const spec = specOf(body);
    if (sameSpec(existing, spec)) {
      ctx.body = existing;
      return;
    }
    ctx.body = await whileNoEvents(deps, p.tenantId, p.metric, spec, () => deps.meters.put(p.tenantId, p.metric, spec, existing.createdAt));
  };
}

/** DELETE: the metric is a plain sum again; refused (409) once it has events. */
export function deleteMeter(deps: Deps) {
  return async (ctx: Ctx) => {
    const p = pathParams(ctx);
    await authorizeTenant(deps, ctx, p.tenantId, 'admin');
    const existing = await deps.meters.get(p.tenantId, p.metric);
    if (!existing) throw notFound(p.tenantId, p.metric);
    await whileNoEvents(deps, p.tenantId, p.metric, null, () => deps.meters.delete(existing));
    ctx.status = 204;
  };
}
