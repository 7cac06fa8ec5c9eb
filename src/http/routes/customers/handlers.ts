import type { Deps } from '../../deps.js';
import { parseBody, parseQuery, type Ctx } from '../../context.js';
import { authorizeTenant } from '../../tenant-access.js';
import { findCustomer } from '../../../stripe/lookups.js';
import { listCustomersQuerySchema, putCustomerSchema } from './schema.js';
import { stripeLookupFailed } from '../mappings/handlers.js';

/** POST /v1/customers: binds a customerRef to an existing Stripe customer (201 new, 200 re-bound). */
export function putCustomer(deps: Deps) {
  return async (ctx: Ctx) => {
    const body = parseBody(ctx, putCustomerSchema);
    await authorizeTenant(deps, ctx, body.tenantId, 'admin');
    await findCustomer(deps.stripe.client, body.stripeCustomerId).catch(stripeLookupFailed);
    const { created, mapping } = await deps.mappings.putCustomer({ ...body, subscriptionItemId: body.subscriptionItemId ?? '' });
    ctx.status = created ? 201 : 200;
    ctx.body = { ...mapping, subscriptionItemId: mapping.subscriptionItemId || null };
  };
}

export function listCustomers(deps: Deps) {
  return async (ctx: Ctx) => {
    const q = parseQuery(ctx, listCustomersQuerySchema);
    await authorizeTenant(deps, ctx, q.tenantId, 'read');
    const rows = await deps.mappings.listCustomers(q.tenantId, q.customerRef ?? '');
    ctx.body = { customers: rows.map((c) => ({ ...c, subscriptionItemId: c.subscriptionItemId || null })) };
  };
}
