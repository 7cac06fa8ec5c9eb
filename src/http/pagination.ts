import { z } from 'zod';
import { HttpError } from './errors.js';

/** `limit` and `cursor` of a list route's query string. */
export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(1024).optional(),
};

/** The `nextCursor` of a list response: the cursor of the next page, null on the last. */
export const nextCursorSchema = z.string().nullable();

export type Page<T> = { items: T[]; nextCursor: string | null };

/**
 * One page of a list, in the order of `keyOf` (unique per item): the items after the cursor's, at most `limit`.
 * `nextCursor` (opaque: the last item's key, base64url) fetches the next page; null on the last one. A list changed
 * between pages still pages correctly: the cursor names a position in the order, not an offset.
 */
export function page<T>(items: T[], keyOf: (item: T) => string, q: { limit: number; cursor?: string | undefined }): Page<T> {
  let after: string | undefined;
  if (q.cursor !== undefined) {
    after = Buffer.from(q.cursor, 'base64url').toString('utf8');
    if (q.cursor === '' || Buffer.from(after, 'utf8').toString('base64url') !== q.cursor) {
      throw new HttpError(400, 'invalid_request', 'invalid query: cursor: not a cursor this list gave', [{ path: 'cursor', message: 'not a cursor this list gave' }]);
    }
  }
  const sorted = items.map((item) => [keyOf(item), item] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const rest = after === undefined ? sorted : sorted.filter(([k]) => k > after!);
  const slice = rest.slice(0, q.limit);
  const more = rest.length > q.limit;
  return { items: slice.map(([, item]) => item), nextCursor: more ? Buffer.from(slice.at(-1)![0], 'utf8').toString('base64url') : null };
}
