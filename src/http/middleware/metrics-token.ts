import { createHash, timingSafeEqual } from 'node:crypto';
import type { Middleware } from 'koa';
import type { State } from '../context.js';
import { HttpError } from '../errors.js';

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * `/metrics` names tenants and customers in its labels, so with a token set a scrape must carry
 * `Authorization: Bearer <token>`. Both sides are hashed before the comparison: equal lengths for timingSafeEqual,
 * and the time taken says nothing about the token's length or content. Without a token the endpoint is open.
 */
export function requireMetricsToken(token: string | undefined): Middleware<State> {
  if (token === undefined) return (_ctx, next) => next();
  const expected = digest(token);
  return async (ctx, next) => {
    const header = ctx.get('authorization');
    const sent = header ? /^Bearer +(\S+) *$/i.exec(header)?.[1] : undefined;
    if (sent === undefined) {
      ctx.set('WWW-Authenticate', 'Bearer realm="metrics"');
      throw new HttpError(401, 'unauthorized', 'missing metrics token: send Authorization: Bearer <METRICS_TOKEN>');
    }
    if (!timingSafeEqual(digest(sent), expected)) {
      ctx.set('WWW-Authenticate', 'Bearer realm="metrics", error="invalid_token"');
      throw new HttpError(401, 'unauthorized', 'invalid metrics token');
    }
    await next();
  };
}
