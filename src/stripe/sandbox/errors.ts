/** Stripe's error envelope: `{ error: { type, code?, message, param?, doc_url? } }`, which stripe-node maps to its error classes. */
export type StripeErrorType =
  | 'api_error'
  | 'authentication_error'
  | 'card_error'
  | 'idempotency_error'
  | 'invalid_request_error'
  | 'rate_limit_error'
  | 'permission_error';

export class SandboxError extends Error {
  readonly headers: Record<string, string> = {};
  constructor(
    readonly status: number,
    readonly type: StripeErrorType,
    message: string,
    readonly code?: string,
    readonly param?: string,
  ) {
    super(message);
  }

  body(): { error: Record<string, string> } {
    const error: Record<string, string> = { type: this.type, message: this.message };
    if (this.code) {
      error.code = this.code;
      error.doc_url = `https://stripe.com/docs/error-codes/${this.code.replace(/_/g, '-')}`;
    }
    if (this.param) error.param = this.param;
    return { error };
  }
}

export const invalid = (message: string, param?: string, code?: string): SandboxError =>
  new SandboxError(400, 'invalid_request_error', message, code, param);

export const missingParam = (param: string): SandboxError =>
  invalid(`Missing required param: ${param}.`, param, 'parameter_missing');

export const unknownParam = (param: string): SandboxError =>
  invalid(`Received unknown parameter: ${param}`, param, 'parameter_unknown');

/** A missing object named in the URL is a 404; one named by a parameter is a 400, as Stripe does it. */
export const noSuch = (kind: string, id: string, param?: string): SandboxError =>
  new SandboxError(param ? 400 : 404, 'invalid_request_error', `No such ${kind}: '${id}'`, 'resource_missing', param ?? 'id');

export const unrecognizedUrl = (method: string, path: string): SandboxError =>
  new SandboxError(
    404,
    'invalid_request_error',
    `Unrecognized request URL (${method}: ${path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
  );

export const missingKey = (): SandboxError =>
  new SandboxError(
    401,
    'authentication_error',
    "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.",
  );

export function invalidKey(key: string): SandboxError {
  // Stripe echoes only the key's prefix and last four characters.
  const prefix = /^(sk|rk|pk)_(test|live)_/.exec(key)?.[0] ?? '';
  const rest = key.length - prefix.length;
  const shown = rest > 8 ? `${prefix}${'*'.repeat(rest - 4)}${key.slice(-4)}` : `${prefix}****`;
  return new SandboxError(401, 'authentication_error', `Invalid API Key provided: ${shown}`, 'api_key_invalid');
}

export function rateLimited(): SandboxError {
  const err = new SandboxError(
    429,
    'invalid_request_error',
    'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.',
    'rate_limit',
  );
  err.headers['retry-after'] = '1';
  return err;
}

export function apiError(message = 'An unknown error occurred'): SandboxError {
  const err = new SandboxError(500, 'api_error', message);
  // Nothing was committed, so stripe-node may safely retry.
  err.headers['stripe-should-retry'] = 'true';
  return err;
}
