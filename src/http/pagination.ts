import { z } from 'zod';
import type { Before } from '../storage/queries/define.js';
import { HttpError } from './errors.js';

/** `limit` and `cursor` of a list route's query string. */
export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(1024).optional(),
};

/** The `nextCursor` of a list response: the cursor of the next page, null on the last. */
export const nextCursorSchema = z.string().nullable();

export type Page<T> = { items: T[]; nextCursor: string | null };

const notACursor = () =>
  new HttpError(400, 'invalid_request', 'invalid query: cursor: not a cursor this list gave', [{ path: 'cursor', message: 'not a cursor this list gave' }]);

/**
 * One page of a list, in the order of `keyOf` (unique per item): the items after the cursor's, at most `limit`.
 * `nextCursor` (opaque: the last item's key, base64url) fetches the next page; null on the last one. A list changed
 * between pages still pages correctly: the cursor names a position in the order, not an offset.
 */
export function page<T>(items: T[], keyOf: (item: T) => string, q: { limit: number; cursor?: string | undefined }): Page<T> {
  let after: string | undefined;
  if (q.cursor !== undefined) {
    after = Buffer.from(q.cursor, 'base64url').toString('utf8');
    if (q.cursor === '' || Buffer.from(after, 'utf8').toString('base64url') !== q.cursor) throw notACursor();
  }
  const sorted = items.map((item) => [keyOf(item), item] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const rest = after === undefined ? sorted : sorted.filter(([k]) => k > after!);
  const slice = rest.slice(0, q.limit);
  const more = rest.length > q.limit;
  return { items: slice.map(([, item]) => item), nextCursor: more ? Buffer.from(slice.at(-1)![0], 'utf8').toString('base64url') : null };
}

/**
 * The cursor of a list paged in SQL (keyset): the sort key of a page's last item, as base64url JSON. The next page is
 * the rows after that key in the list's order, so rows added meanwhile never shift or repeat what follows.
 */
export function keysetCursor<K extends z.ZodTuple>(key: K) {
  return {
    encode: (k: z.output<K>): string => Buffer.from(JSON.stringify(k)).toString('base64url'),
    decode(cursor: string): z.output<K> {
      try {
        return key.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
      } catch {
        throw notACursor();
      }
    },
  };
}

/**
 * A page from rows fetched with `limit + 1`: the extra row only says there is more, and the last row kept gives the
 * cursor.
 */
export function keysetPage<T>(rows: T[], limit: number, keyOf: (row: T) => string): Page<T> {
  const items = rows.slice(0, limit);
  return { items, nextCursor: rows.length > limit ? keyOf(items.at(-1)!) : null };
}

const timeAndId = keysetCursor(z.tuple([z.number().int(), z.string()]));

/**
 * Lists newest first (runs, adjustments), ordered in SQL by (time to the second, id) descending: the cursor is the
 * last item's pair. Seconds, because later row versions carry the time as read back (to the second): an item's key
 * never changes, so none is repeated or skipped. An item added in the cursor's own second may sort after it.
 */
export const newestFirst = {
  before(cursor: string | undefined): Before | undefined {
    if (cursor === undefined) return undefined;
    const [second, id] = timeAndId.decode(cursor);
    return { second, id };
  },
  /** `rows` as fetched with `limit + 1`; `time` is the item's ISO time to the second. */
  page<T extends { id: string }>(rows: T[], limit: number, time: (row: T) => string): Page<T> {
    return keysetPage(rows, limit, (r) => timeAndId.encode([Date.parse(time(r)) / 1000, r.id]));
  },
};
