import type { Middleware } from 'koa';
import type { ApiKeyStore } from '../../auth/keys.js';
import type { State } from '../context.js';
import { HttpError } from '../errors.js';

/** Reads `Authorization: Bearer <key>` or `X-API-Key`; 401 when absent or unknown. */
export function authenticate(keys: ApiKeyStore): Middleware<State> {
  return async (ctx, next) => {
    const header = ctx.get('authorization');
    const key = header ? /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] : ctx.get('x-api-key') || undefined;
    if (!key) {
      throw new HttpError(401, 'unauthorized', 'missing API key: send Authorization: Bearer <key> or X-API-Key: <key>');
    }
    const principal = await keys.verify(key);
    if (!principal) throw new HttpError(401, 'unauthorized', 'invalid or revoked API key');
    ctx.state.principal = principal;
    await next();
  };
}
