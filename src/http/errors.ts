import { z, type ZodError } from 'zod';

/** An error with a status and a stable code, rendered as `{error: {code, message, issues?}, requestId}`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues?: Array<{ path: string; message: string }>,
  ) {
    super(message);
  }
}

/** `events.3.quantity` -> `events[3].quantity`: the path a client can find in its own payload. */
export function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');
}

export function validationError(error: ZodError, where = 'request'): HttpError {
  const issues = error.issues.map((i) => ({ path: fieldPath(i.path), message: i.message }));
  const first = issues[0];
  const message = first ? `invalid ${where}: ${first.path ? `${first.path}: ` : ''}${first.message}` : `invalid ${where}`;
  return new HttpError(400, 'invalid_request', message, issues);
}

/** The body of every error response (also the OpenAPI spec's error shape). */
export const errorBodySchema = z.strictObject({
  error: z.strictObject({
    code: z.string().regex(/^[a-z_]+$/),
    message: z.string(),
    issues: z.array(z.strictObject({ path: z.string(), message: z.string() })).optional(),
  }),
  requestId: z.string(),
});
