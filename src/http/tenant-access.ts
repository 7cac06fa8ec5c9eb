import type { Scope } from '../auth/keys.js';
import type { Tenant } from '../tenants/store.js';
import { requireScope, requireTenant, type Ctx } from './context.js';
import type { Deps } from './deps.js';
import { HttpError } from './errors.js';

/** Scope check, tenant check (403), then existence (404), in that order so a key cannot probe other tenants. */
export async function authorizeTenant(deps: Deps, ctx: Ctx, tenantId: string, scope: Scope): Promise<Tenant> {
  requireScope(ctx, scope);
  requireTenant(ctx, tenantId);
  const tenant = await deps.tenants.get(tenantId);
  if (!tenant) throw new HttpError(404, 'unknown_tenant', `unknown tenant: ${tenantId}`);
  return tenant;
}

/**
 * The tenant a list across tenants reads: the one named (checked as above), else the key's own; every tenant ('')
 * for the service admin key only.
 */
export async function listedTenant(deps: Deps, ctx: Ctx, tenantId: string | undefined, scope: Scope): Promise<string> {
  const p = requireScope(ctx, scope);
  if (tenantId !== undefined) return (await authorizeTenant(deps, ctx, tenantId, scope)).id;
  if (p.root) return '';
  if (p.tenantId === null) throw new HttpError(403, 'forbidden', 'this API key belongs to no tenant');
  return p.tenantId;
}
