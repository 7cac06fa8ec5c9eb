import type { Deps } from '../../deps.js';
import { parseBody, parseQuery, principalOf, requireScope, requireTenant, type Ctx } from '../../context.js';
import { HttpError, validationError } from '../../errors.js';
import { newestFirst } from '../../pagination.js';
import { authorizeTenant } from '../../tenant-access.js';
import { additive } from '../../../meters/definitions.js';
import { AdjustmentStateError, approve, PushInFlightError, revert } from '../../../adjustments/lifecycle.js';
import { adjustmentIdSchema, createAdjustmentSchema, listAdjustmentsQuerySchema } from './schema.js';

/** POST /v1/adjustments: records a pending adjustment; it counts once approved. Additive meters (sum, count) only. */
export function createAdjustment(deps: Deps) {
  return async (ctx: Ctx) => {
    const body = parseBody(ctx, createAdjustmentSchema);
    await authorizeTenant(deps, ctx, body.tenantId, 'admin');
    const meter = await deps.meters.get(body.tenantId, body.metric);
    if (meter && !additive(meter.aggregation)) {
      throw new HttpError(
        400,
        'aggregation_not_adjustable',
        `metric ${body.metric} is a ${meter.aggregation} meter: its value is not a sum, so a signed delta has no meaning for it. ` +
          'Correct its events instead (send the missing ones, then replay the window)',
      );
    }
    ctx.status = 201;
    ctx.body = await deps.adjustments.store.create({ ...body, status: 'pending', createdBy: principalOf(ctx).keyId });
  };
}

/** GET /v1/adjustments: newest first; `nextCursor` pages on. */
export function listAdjustments(deps: Deps) {
  return async (ctx: Ctx) => {
    const { cursor: after, limit, ...filter } = parseQuery(ctx, listAdjustmentsQuerySchema);
    await authorizeTenant(deps, ctx, filter.tenantId, 'read');
    const rows = await deps.adjustments.store.list({ ...filter, before: newestFirst.before(after), limit: limit + 1 });
    const p = newestFirst.page(rows, limit, (a) => a.createdAt);
    ctx.body = { adjustments: p.items, nextCursor: p.nextCursor };
  };
}

async function load(deps: Deps, ctx: Ctx, scope: 'read' | 'admin') {
  const parsed = adjustmentIdSchema.safeParse(ctx.params);
  if (!parsed.success) throw validationError(parsed.error, 'path');
  const p = requireScope(ctx, scope);
  const a = await deps.adjustments.store.get(p.root ? null : p.tenantId, parsed.data.id);
  if (!a) throw new HttpError(404, 'not_found', `no adjustment ${parsed.data.id}`);
  requireTenant(ctx, a.tenantId);
  return a;
}

export function getAdjustment(deps: Deps) {
  return async (ctx: Ctx) => {
    ctx.body = await load(deps, ctx, 'read');
  };
}

function stateConflict(err: unknown): never {
  if (err instanceof AdjustmentStateError) throw new HttpError(409, 'invalid_state', err.message);
  if (err instanceof PushInFlightError) throw new HttpError(409, 'push_in_flight', err.message);
  throw err;
}

/** POST /v1/adjustments/:id/approve */
export function approveAdjustment(deps: Deps) {
  return async (ctx: Ctx) => {
    const a = await load(deps, ctx, 'admin');
    ctx.body = await approve(deps.adjustments, a, principalOf(ctx).keyId).catch(stateConflict);
  };
}

/** POST /v1/adjustments/:id/revert: an approved adjustment gets a linked opposite one. */
export function revertAdjustment(deps: Deps) {
  return async (ctx: Ctx) => {
    const a = await load(deps, ctx, 'admin');
    ctx.body = await revert(deps.adjustments, a, principalOf(ctx).keyId).catch(stateConflict);
  };
}
