/**
 * Storage could not serve a call (connection refused or lost, engine closed or overloaded): nothing the caller sent
 * was stored, and the same call may succeed later. Every route answers it with 503 `storage_unavailable` and
 * `Retry-After`; its message never carries the engine's text.
 */
export class StorageUnavailableError extends Error {}

type ClickHouseLike = { code: string; type?: string | undefined; message: string };

/** Errors from @clickhouse/client (HTTP or the embedded engine): a numeric `code` and usually a `type`. */
export function isClickHouseError(err: unknown): err is ClickHouseLike {
  const e = err as { code?: unknown; message?: unknown };
  return typeof e?.message === 'string' && typeof e.code === 'string' && /^\d+$/.test(e.code);
}

/** ClickHouse errors that are the engine's or the cluster's trouble, not the statement's: by type, and by code. */
const unavailableTypes = new Set([
  'TOO_MANY_SIMULTANEOUS_QUERIES',
  'NETWORK_ERROR',
  'SOCKET_TIMEOUT',
  'ALL_CONNECTION_TRIES_FAILED',
  'KEEPER_EXCEPTION',
  'AUTHENTICATION_FAILED',
  'REQUIRED_PASSWORD',
  'UNKNOWN_USER',
  'TABLE_IS_READ_ONLY',
]);
const unavailableCodes = new Set(['202', '210', '209', '279', '999', '516', '194', '192', '242']);

/** Failures below ClickHouse: the socket, the HTTP request, or a connection already closed. */
const networkCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
const networkMessages = /^(ChdbConnection is closed|Timeout error\.|socket hang up|The user aborted a request\.|Client is closed)/;

/** Whether a failed storage call means "storage unavailable, retry" rather than a fault in the statement. */
export function isStorageUnavailable(err: unknown): boolean {
  if (err instanceof StorageUnavailableError) return true;
  if (isClickHouseError(err)) return unavailableTypes.has(err.type ?? '') || unavailableCodes.has(err.code);
  for (let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && networkCodes.has(e.code)) return true;
    if (typeof e.message === 'string' && networkMessages.test(e.message)) return true;
  }
  return false;
}

/** The error a storage call throws: StorageUnavailableError (the original as its cause) or the original. */
export function storageError(err: unknown): unknown {
  if (err instanceof StorageUnavailableError || !isStorageUnavailable(err)) return err;
  return new StorageUnavailableError('storage is unavailable; retry', { cause: err });
}
