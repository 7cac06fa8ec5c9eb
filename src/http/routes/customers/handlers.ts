import type { Deps } from '../../deps.js';
import { parseBody, parseQuery, type Ctx } from '../../context.js';
import { HttpError } from '../../errors.js';
import { authorizeTenant } from '../../tenant-access.js';
import { findCustomer } from '../../../stripe/lookups.js';
import { listCustomersQuerySchema, putCustomerSchema } from './schema.js';
import { stripeLookupFailed } from '../mappings/handlers.js';
import { page } from '../../pagination.js';

/**
 * POST /v1/customers: binds a customerRef to an existing Stripe customer of the tenant's Stripe account (201 new,
 * 200 re-bound). 409 when another tenant owns the customer, or another customerRef of this tenant is bound to it.
 */
export function putCustomer(deps: Deps) {
  return async (ctx: Ctx) => {
    const body = parseBody(ctx, putCustomerSchema);
    const tenant = await authorizeTenant(deps, ctx, body.tenantId, 'admin');
    await findCustomer(deps.stripe.gateway, body.stripeCustomerId, tenant.stripeAccount || undefined).catch(stripeLookupFailed);
    const result = await deps.mappings.bindCustomer({ ...body, subscriptionItemId: body.subscriptionItemId ?? '' }, tenant.stripeAccount);
    if (!result.bound && result.reason === 'owned_by_another_tenant') {
      // Says nothing about who: which tenant bills a customer is that tenant's business.
      throw new HttpError(409, 'stripe_customer_taken', `Stripe customer ${body.stripeCustomerId} is bound to another tenant; bind a customer of your own`);
    }
    if (!result.bound) {
      throw new HttpError(
        409,
        'stripe_customer_bound',
        `Stripe customer ${body.stripeCustomerId} is bound to customerRef ${result.customerRef} of this tenant; one customerRef per Stripe customer`,
      );
    }
    ctx.status = result.created ? 201 : 200;
    ctx.body = { ...result.mapping, subscriptionItemId: result.mapping.subscriptionItemId || null };
  };
}

export function listCustomers(deps: Deps) {
  return async (ctx: Ctx) => {
    const q = parseQuery(ctx, listCustomersQuerySchema);
    await authorizeTenant(deps, ctx, q.tenantId, 'read');
    const rows = await deps.mappings.listCustomers(q.tenantId, q.customerRef ?? '');
    const p = page(rows, (c) => c.customerRef, q);
    ctx.body = { customers: p.items.map((c) => ({ ...c, subscriptionItemId: c.subscriptionItemId || null })), nextCursor: p.nextCursor };
  };
}
