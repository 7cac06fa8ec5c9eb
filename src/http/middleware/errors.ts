import type { Middleware } from 'koa';
import type { State } from '../context.js';
import { HttpError } from '../errors.js';
import { IngestDataError, IngestOverloadedError } from '../../ingest/writer.js';
import { InsufficientStorageError, insufficientStorageRetryAfterSeconds } from '../../ops/disk.js';
import { StorageUnavailableError } from '../../storage/errors.js';
import { UnknownTenantError } from '../../tenants/store.js';

/**
 * Renders every failure as JSON. Client mistakes carry their own 4xx; anything unexpected is a 5xx whose body says
 * nothing about internals (the log line has the detail, under the same request id).
 */
export function errors(): Middleware<State> {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        throw new HttpError(404, 'not_found', `no route for ${ctx.method} ${ctx.path}`);
      }
    } catch (err) {
      let e: HttpError;
      if (err instanceof HttpError) e = err;
      else if (err instanceof StorageUnavailableError) {
        ctx.state.log?.error({ err }, 'storage unavailable');
        e = new HttpError(503, 'storage_unavailable', err.message);
      }
      else if (err instanceof UnknownTenantError) e = new HttpError(404, 'unknown_tenant', err.message);
      else if (err instanceof IngestOverloadedError) e = new HttpError(429, 'ingest_overloaded', err.message);
      else if (err instanceof IngestDataError) e = new HttpError(422, 'data_refused', err.message);
      else if (err instanceof InsufficientStorageError) e = new HttpError(507, 'insufficient_storage', err.message);
      else if (isClientHttpError(err)) e = new HttpError(err.status, err.expose ? 'bad_request' : 'error', err.message);
      else {
        ctx.state.log?.error({ err }, 'unhandled error');
        e = new HttpError(500, 'internal_error', 'internal error; see the server log for this request id');
      }
      ctx.status = e.status;
      ctx.body = { error: { code: e.code, message: e.message, ...(e.issues ? { issues: e.issues } : {}) }, requestId: ctx.state.requestId };
      // By then a group commit or two has usually drained the queue or storage came back.
      if (e.status === 503 || e.code === 'ingest_overloaded') ctx.set('Retry-After', '1');
      else if (e.code === 'insufficient_storage') ctx.set('Retry-After', String(insufficientStorageRetryAfterSeconds));
    }
  };
}

function isClientHttpError(err: unknown): err is { status: number; expose: boolean; message: string } {
  const e = err as { status?: unknown; expose?: unknown };
  return typeof e?.status === 'number' && e.status >= 400 && e.status < 500;
}
