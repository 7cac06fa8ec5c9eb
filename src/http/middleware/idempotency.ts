import { createHash } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Middleware } from 'koa';
import { findIdempotentResponse, insertIdempotentResponse } from '../../storage/queries/idempotency.js';
import type { State } from '../context.js';
import { HttpError } from '../errors.js';

/** POSTs that carry their own idempotency: ingest (per event key) and analyst SQL (reads only). */
export const idempotencyExempt: ReadonlySet<string> = new Set(['/v1/events/ingest', '/v1/sql']);
const keyShape = /^[\x21-\x7e]{1,255}$/;

/**
 * `Idempotency-Key` on POST requests that create or run something, with Stripe's semantics: the same key with the
 * same request (method, path and body) answers the first successful response again (`Idempotent-Replayed: true`);
 * the same key with another request is 409 `idempotency_key_reused`; a key whose first request is still running is
 * 409 `idempotency_key_in_use`. Only successful responses are kept (a refused request may be corrected and sent
 * again with its key), for 24 hours, per API key. Two processes serving the same key at the same moment can both
 * run it: send a key's retries to one endpoint, or after the first answered.
 */
export function idempotentPosts(client: ClickHouseClient): Middleware<State> {
  const running = new Set<string>();
  return async (ctx, next) => {
    const key = ctx.get('idempotency-key');
    if (ctx.method !== 'POST' || idempotencyExempt.has(ctx.path) || key === '') return next();
    if (!keyShape.test(key)) {
      throw new HttpError(400, 'invalid_idempotency_key', 'Idempotency-Key must be 1 to 255 printable ASCII characters without spaces');
    }
    const caller = ctx.state.principal!.keyId;
    const requestHash = createHash('sha256').update(JSON.stringify([ctx.method, ctx.path, ctx.querystring, ctx.state.body ?? null])).digest('hex');
    const slot = `${caller}\u0000${key}`;
    if (running.has(slot)) throw new HttpError(409, 'idempotency_key_in_use', 'a request with this Idempotency-Key is still running; retry when it has answered');
    running.add(slot);
    try {
      const [first] = await findIdempotentResponse(client, { caller, key });
      if (first) {
        if (first.requestHash !== requestHash) {
          throw new HttpError(409, 'idempotency_key_reused', 'this Idempotency-Key was used with another request in the last 24 hours; use a new key for a new request');
        }
        ctx.status = first.status;
        ctx.body = JSON.parse(first.response);
        ctx.set('Idempotent-Replayed', 'true');
        return;
      }
      await next();
      if (ctx.status >= 200 && ctx.status < 300 && ctx.body !== undefined) {
        await insertIdempotentResponse(client, [{ caller, idempotencyKey: key, requestHash, status: ctx.status, response: JSON.stringify(ctx.body) }]);
      }
    } finally {
      running.delete(slot);
    }
  };
}
