import type { Deps } from '../../deps.js';
import { parseBody, parseQuery, type Ctx } from '../../context.js';
import { HttpError, validationError } from '../../errors.js';
import { authorizeTenant } from '../../tenant-access.js';
import type { GatewayMeter } from '../../../stripe/gateway.js';
import { findMeter, meterFor, StripeLookupError } from '../../../stripe/lookups.js';
import type { PriceMappingInput } from '../../../stripe/mappings.js';
import { createMappingSchema, listMappingsQuerySchema, mappingPathSchema, updateMappingSchema } from './schema.js';
import { page } from '../../pagination.js';

/** Stripe said no (400 with its reason) or could not be asked (502). */
export function stripeLookupFailed(err: unknown): never {
  if (err instanceof StripeLookupError) {
    throw new HttpError(err.code === 'stripe_unavailable' ? 502 : 400, err.code, err.message);
  }
  throw err;
}

/** The binding of a metric to a meter, refused when the meter's formula does not fit the metric's aggregation. */
async function mappingFor(deps: Deps, tenantId: string, metric: string, meter: GatewayMeter, active: boolean): Promise<PriceMappingInput> {
  let fit;
  try {
    fit = meterFor(meter, metric, await deps.aggregationOf(tenantId, metric));
  } catch (err) {
    stripeLookupFailed(err);
  }
  return {
    tenantId,
    metric,
    meterId: meter.id,
    eventName: meter.event_name,
    formula: fit.formula,
    customerPayloadKey: fit.customerKey,
    valuePayloadKey: fit.valueKey,
    active,
  };
}

function pathParams(ctx: Ctx) {
  const r = mappingPathSchema.safeParse(ctx.params);
  if (!r.success) throw validationError(r.error, 'path');
  return r.data;
}

/**
 * POST /v1/mappings: binds (tenant, metric) to an existing, active Stripe meter of the tenant's Stripe account. 409 if
 * the metric is mapped already. Meters are not owned: tenants of one account may share a meter, since each bills
 * only customers it owns (see docs/stripe-isolation.md).
 */
export function createMapping(deps: Deps) {
  return async (ctx: Ctx) => {
    const body = parseBody(ctx, createMappingSchema);
    const tenant = await authorizeTenant(deps, ctx, body.tenantId, 'admin');
    if (await deps.mappings.getPrice(body.tenantId, body.metric)) {
      throw new HttpError(409, 'mapping_exists', `metric ${body.metric} is mapped already; change it with PUT /v1/mappings/${body.tenantId}/${body.metric}`);
    }
    const meter = await findMeter(deps.stripe.gateway, body, tenant.stripeAccount || undefined).catch(stripeLookupFailed);
    ctx.status = 201;
    ctx.body = await deps.mappings.putPrice(await mappingFor(deps, body.tenantId, body.metric, meter, body.active));
  };
}

export function listMappings(deps: Deps) {
  return async (ctx: Ctx) => {
    const q = parseQuery(ctx, listMappingsQuerySchema);
    await authorizeTenant(deps, ctx, q.tenantId, 'read');
    const p = page(await deps.mappings.listPrices(q.tenantId, q.metric ?? ''), (m) => m.metric, q);
    ctx.body = { mappings: p.items, nextCursor: p.nextCursor };
  };
}

export function getMapping(deps: Deps) {
  return async (ctx: Ctx) => {
    const p = pathParams(ctx);
    await authorizeTenant(deps, ctx, p.tenantId, 'read');
    const mapping = await deps.mappings.getPrice(p.tenantId, p.metric);
    if (!mapping) throw new HttpError(404, 'not_found', `metric ${p.metric} of tenant ${p.tenantId} has no mapping`);
    ctx.body = mapping;
  };
}

/** PUT /v1/mappings/:tenantId/:metric: re-points or (de)activates a mapping; the meter is checked again. */
export function updateMapping(deps: Deps) {
  return async (ctx: Ctx) => {
    const p = pathParams(ctx);
    const body = parseBody(ctx, updateMappingSchema);
    const tenant = await authorizeTenant(deps, ctx, p.tenantId, 'admin');
    const existing = await deps.mappings.getPrice(p.tenantId, p.metric);
    if (!existing) throw new HttpError(404, 'not_found', `metric ${p.metric} of tenant ${p.tenantId} has no mapping`);
    const meter = await findMeter(deps.stripe.gateway, body, tenant.stripeAccount || undefined).catch(stripeLookupFailed);
    ctx.body = await deps.mappings.putPrice(await mappingFor(deps, p.tenantId, p.metric, meter, body.active), existing.createdAt);
  };
}

/** DELETE: the metric's usage becomes unmapped (reported, never dropped); what was pushed stays pushed. */
export function deleteMapping(deps: Deps) {
  return async (ctx: Ctx) => {
    const p = pathParams(ctx);
    await authorizeTenant(deps, ctx, p.tenantId, 'admin');
    const existing = await deps.mappings.getPrice(p.tenantId, p.metric);
    if (!existing) throw new HttpError(404, 'not_found', `metric ${p.metric} of tenant ${p.tenantId} has no mapping`);
    await deps.mappings.deletePrice(existing);
    ctx.body = { ...existing, deleted: true };
  };
}
