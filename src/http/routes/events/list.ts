import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { parseQuery, type Ctx } from '../../context.js';
import { HttpError } from '../../errors.js';
import { authorizeTenant } from '../../tenant-access.js';
import { loadSql } from '../../../storage/sql.js';
import { toClickHouseTime } from '../../../storage/time.js';
import { eventsQuerySchema } from './schema.js';

const cursorSchema = z.tuple([z.number().int(), z.string()]);

// Output aliases differ from column names: in ClickHouse an alias shadows the column everywhere in the query.
const eventRow = z.object({
  idempotencyKey: z.string(),
  metric: z.string(),
  customerRef: z.string(),
  resourceId: z.string(),
  quantityText: z.string(),
  eventTime: z.string(),
  period: z.string(),
  meta: z.record(z.string(), z.string()),
  source: z.string(),
  lateness: z.enum(['counted', 'beyond_window', 'replayed']),
  ingestedAt: z.string(),
  tsMs: z.union([z.string(), z.number()]),
});

const encodeCursor = (tsMs: number, key: string) => Buffer.from(JSON.stringify([tsMs, key])).toString('base64url');

function decodeCursor(cursor: string): [number, string] {
  try {
    return cursorSchema.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch {
    throw new HttpError(400, 'invalid_request', 'invalid query: cursor: not a cursor returned by this endpoint');
  }
}

/**
 * GET /v1/events: raw stored events for debugging, oldest first; `nextCursor` pages on. Default window: the last
 * 24 h, or with `lateness` the whole retention.
 */
export function listEvents(deps: Deps) {
  return async (ctx: Ctx) => {
    const q = parseQuery(ctx, eventsQuerySchema);
    await authorizeTenant(deps, ctx, q.tenantId, 'read');
    const until = q.until ? Date.parse(q.until) : Date.now() + 5 * 60_000;
    // Events beyond the lateness window are days old by definition: look back over the whole retention for them.
    const since = q.since ? Date.parse(q.since) : until - (q.lateness ? deps.config.eventRetentionMs : 24 * 3600_000);
    if (since >= until) throw new HttpError(400, 'invalid_request', 'invalid query: since: since must be before until');
    const [afterTsMs, afterKey] = q.cursor ? decodeCursor(q.cursor) : [-1, ''];
    const rs = await deps.storage.api.query({
      query: loadSql('events/list_events'),
      query_params: {
        tenantId: q.tenantId,
        since: toClickHouseTime(since),
        until: toClickHouseTime(until),
        metric: q.metric ?? '',
        customerRef: q.customerRef ?? '',
        lateness: q.lateness ?? '',
        afterTsMs,
        afterKey,
        limit: q.limit,
      },
      format: 'JSONEachRow',
    });
    const rows = z.array(eventRow).parse(await rs.json());
    const last = rows.at(-1);
    ctx.body = {
      tenantId: q.tenantId,
      events: rows.map(({ tsMs: _, eventTime, quantityText, ...r }) => ({ ...r, quantity: quantityText, ts: eventTime })),
      nextCursor: last && rows.length === q.limit ? encodeCursor(Number(last.tsMs), last.idempotencyKey) : null,
    };
  };
}
