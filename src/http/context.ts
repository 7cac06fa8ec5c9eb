import type { ParameterizedContext } from 'koa';
import type { RouterContext } from '@koa/router';
import type { z } from 'zod';
import type { Principal, Scope } from '../auth/keys.js';
import type { Logger } from '../log.js';
import { HttpError, validationError } from './errors.js';
import { findInexact, inexactMessage } from './exact-json.js';

export type State = {
  requestId: string;
  log: Logger;
  principal?: Principal;
  body?: unknown;
  /** The body held a number a double cannot hold exactly (an InexactNumber stands in its place). */
  inexactNumbers?: boolean;
};
export type Ctx = RouterContext<State> & ParameterizedContext<State>;

export function principalOf(ctx: Ctx): Principal {
  const p = ctx.state.principal;
  if (!p) throw new HttpError(401, 'unauthorized', 'missing API key');
  return p;
}

/** 403 unless the key has the scope (admin implies every scope but `sql`, which is for analyst keys). */
export function requireScope(ctx: Ctx, scope: Scope): Principal {
  const p = principalOf(ctx);
  const ok = p.root || p.scopes.has(scope) || (scope !== 'sql' && p.scopes.has('admin') && p.tenantId !== null);
  if (!ok) throw new HttpError(403, 'forbidden', `this API key lacks the '${scope}' scope`);
  return p;
}

/** 403 when a tenant-bound key names another tenant's data. */
export function requireTenant(ctx: Ctx, tenantId: string): void {
  const p = principalOf(ctx);
  if (!p.root && p.tenantId !== tenantId) {
    throw new HttpError(403, 'forbidden', `this API key may not access tenant '${tenantId}'`);
  }
}

export function parseQuery<T extends z.ZodType>(ctx: Ctx, schema: T): z.infer<T> {
  const r = schema.safeParse(ctx.query);
  if (!r.success) throw validationError(r.error, 'query');
  return r.data;
}

export function parseBody<T extends z.ZodType>(ctx: Ctx, schema: T): z.infer<T> {
  const r = schema.safeParse(ctx.state.body);
  if (!r.success) {
    const inexact = ctx.state.inexactNumbers ? findInexact(ctx.state.body) : undefined;
    if (inexact) {
      const message = inexactMessage(inexact.number);
      throw new HttpError(400, 'invalid_request', `invalid body: ${inexact.path}: ${message}`, [{ path: inexact.path, message }]);
    }
    throw validationError(r.error, 'body');
  }
  return r.data;
}
