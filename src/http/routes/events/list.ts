import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { parseQuery, type Ctx } from '../../context.js';
import { HttpError } from '../../errors.js';
import { keysetCursor } from '../../pagination.js';
import { authorizeTenant } from '../../tenant-access.js';
import { listEvents as listStoredEvents } from '../../../storage/queries/events.js';
import { eventsQuerySchema } from './schema.js';

const cursor = keysetCursor(z.tuple([z.number().int(), z.string()]));

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
    const [afterTsMs, afterKey] = q.cursor ? cursor.decode(q.cursor) : [-1, ''];
    const rows = await listStoredEvents(deps.storage.api, {
      tenantId: q.tenantId,
      since,
      until,
      metric: q.metric ?? '',
      customerRef: q.customerRef ?? '',
      lateness: q.lateness ?? '',
      afterTsMs,
      afterKey,
      limit: q.limit,
    });
    const last = rows.at(-1);
    ctx.body = {
      tenantId: q.tenantId,
      events: rows.map(({ tsMs: _, ...r }) => r),
      nextCursor: last && rows.length === q.limit ? cursor.encode([last.tsMs, last.idempotencyKey]) : null,
    };
  };
}
