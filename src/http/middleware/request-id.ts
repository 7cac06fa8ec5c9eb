import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import type { Logger } from '../../log.js';
import type { State } from '../context.js';

const acceptable = /^[A-Za-z0-9._:-]{1,128}$/;

/** Keeps a sane incoming `x-request-id` (else makes one), echoes it, and gives the request a child logger carrying it. */
export function requestId(log: Logger): Middleware<State> {
  return async (ctx, next) => {
    const incoming = ctx.get('x-request-id');
    const id = acceptable.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = id;
    ctx.state.log = log.child({ requestId: id });
    ctx.set('x-request-id', id);
    await next();
  };
}
