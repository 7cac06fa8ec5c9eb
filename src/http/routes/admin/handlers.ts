import type { Deps } from '../../deps.js';
import { parseBody, parseQuery, requireScope, requireTenant, type Ctx } from '../../context.js';
import { HttpError, validationError } from '../../errors.js';
import type { ApiKeyRecord } from '../../../auth/keys.js';
import type { Tenant } from '../../../storage/queries/tenants.js';
import { createKeySchema, createTenantSchema, keyPathSchema, listKeysQuerySchema, listTenantsQuerySchema, tenantPathSchema, updateTenantSchema } from './schema.js';
import { page } from '../../pagination.js';

function requireRoot(ctx: Ctx) {
  const p = requireScope(ctx, 'admin');
  if (!p.root) throw new HttpError(403, 'forbidden', 'only the service admin key manages tenants');
  return p;
}

const publicKey = (k: ApiKeyRecord) => ({
  id: k.id,
  tenantId: k.tenantId || null,
  name: k.name,
  prefix: k.keyPrefix,
  scopes: k.scopes,
  createdBy: k.createdBy,
  createdAt: k.createdAt,
  revokedAt: k.revokedAt || null,
});

const publicTenant = (t: Tenant) => ({ id: t.id, timezone: t.timeZone, stripeAccount: t.stripeAccount || null, createdAt: t.createdAt });

/**
 * POST /v1/admin/tenants: 201 when created, 200 when it already existed with the same zone (and the same
 * stripeAccount, when one is given), 409 otherwise.
 */
export function createTenant(deps: Deps) {
  return async (ctx: Ctx) => {
    requireRoot(ctx);
    const body = parseBody(ctx, createTenantSchema);
    const { created, tenant } = await deps.tenants.create(body.id, body.timezone, body.stripeAccount ?? '');
    if (!created && tenant.timeZone !== body.timezone) {
      throw new HttpError(409, 'tenant_exists', `tenant ${body.id} exists with time zone ${tenant.timeZone}`);
    }
    if (!created && body.stripeAccount !== undefined && tenant.stripeAccount !== (body.stripeAccount ?? '')) {
      throw new HttpError(409, 'tenant_exists', `tenant ${body.id} exists with another stripeAccount; change it with PATCH /v1/admin/tenants/${body.id}`);
    }
    ctx.status = created ? 201 : 200;
    ctx.body = { ...publicTenant(tenant), created };
  };
}

/**
 * PATCH /v1/admin/tenants/:id: sets (or, with null, clears) the tenant's Stripe connected account. Refused (409)
 * while the tenant has meter or customer bindings: they name objects of the account they were checked in.
 */
export function updateTenant(deps: Deps) {
  return async (ctx: Ctx) => {
    requireRoot(ctx);
    const path = tenantPathSchema.safeParse(ctx.params);
    if (!path.success) throw validationError(path.error, 'path');
    const body = parseBody(ctx, updateTenantSchema);
    const tenant = await deps.tenants.get(path.data.id);
    if (!tenant) throw new HttpError(404, 'unknown_tenant', `unknown tenant: ${path.data.id}`);
    const next = body.stripeAccount ?? '';
    if (tenant.stripeAccount === next) {
      ctx.body = publicTenant(tenant);
      return;
    }
    if (await deps.mappings.hasBindings(tenant.id)) {
      throw new HttpError(
        409,
        'tenant_has_bindings',
        `tenant ${tenant.id} has Stripe meter or customer bindings, which belong to its current Stripe account; its stripeAccount cannot change`,
      );
    }
    ctx.body = publicTenant(await deps.tenants.setStripeAccount(tenant, next));
  };
}

export function listTenants(deps: Deps) {
  return async (ctx: Ctx) => {
    requireRoot(ctx);
    const q = parseQuery(ctx, listTenantsQuerySchema);
    const p = page((await deps.tenants.list()).map(publicTenant), (t) => t.id, q);
    ctx.body = { tenants: p.items, nextCursor: p.nextCursor };
  };
}

/** POST /v1/admin/api-keys: the secret is in this response only; it is stored as a hash. */
export function createApiKey(deps: Deps) {
  return async (ctx: Ctx) => {
    const p = requireScope(ctx, 'admin');
    const body = parseBody(ctx, createKeySchema);
    const tenantId = body.tenantId ?? null;
    if (tenantId === null && !p.root) throw new HttpError(403, 'forbidden', 'only the service admin key creates analyst keys');
    if (tenantId !== null) {
      requireTenant(ctx, tenantId);
      if (!(await deps.tenants.get(tenantId))) throw new HttpError(404, 'unknown_tenant', `unknown tenant: ${tenantId}`);
    }
    const { id, key } = await deps.keys.create({ tenantId, scopes: body.scopes, name: body.name, createdBy: p.keyId });
    ctx.status = 201;
    ctx.body = { id, key, tenantId, scopes: body.scopes, name: body.name };
  };
}

export function listApiKeys(deps: Deps) {
  return async (ctx: Ctx) => {
    const p = requireScope(ctx, 'admin');
    const q = parseQuery(ctx, listKeysQuerySchema);
    const tenantId = p.root ? (q.tenantId ?? null) : p.tenantId;
    if (q.tenantId) requireTenant(ctx, q.tenantId);
    const keys = page((await deps.keys.list(tenantId)).map(publicKey), (k) => `${k.createdAt}\u0000${k.id}`, q);
    ctx.body = { keys: keys.items, nextCursor: keys.nextCursor };
  };
}

export function revokeApiKey(deps: Deps) {
  return async (ctx: Ctx) => {
    const p = requireScope(ctx, 'admin');
    const path = keyPathSchema.safeParse(ctx.params);
    if (!path.success) throw validationError(path.error, 'path');
    const record = await deps.keys.find(path.data.id);
    if (!record || (!p.root && record.tenantId !== p.tenantId)) {
      throw new HttpError(404, 'not_found', `no API key ${path.data.id}`);
    }
    if (!record.revokedAt) await deps.keys.revoke(record);
    ctx.body = publicKey((await deps.keys.find(record.id))!);
  };
}

/**
 * POST /v1/admin/retention/run: the raw-event retention job now (after a run in progress, if any): what it dropped.
 * In the process that runs the workers, like the scheduled runs.
 */
export function runRetention(deps: Deps) {
  return async (ctx: Ctx) => {
    requireRoot(ctx);
    if (!deps.retention.policy.enabled) {
      throw new HttpError(409, 'retention_off', 'RAW_EVENT_RETENTION is off: raw events are kept forever and nothing is dropped');
    }
    if (!deps.push.workersHere) {
      throw new HttpError(409, 'workers_elsewhere', 'this process runs no workers; call the workers process or wait for the next scheduled run');
    }
    ctx.body = await deps.retention.job.runNow(null);
  };
}
