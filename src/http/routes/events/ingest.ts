import type { Deps } from '../../deps.js';
import { parseBody, requireScope, requireTenant, type Ctx } from '../../context.js';
import { HttpError } from '../../errors.js';
import { prepareEvent, type EventError, type EventRow } from '../../../ingest/event.js';
import type { Lateness } from '../../../ingest/writer.js';
import { ingestBodySchema } from './schema.js';

type Result = {
  index: number;
  idempotencyKey: string | null;
  status: 'accepted' | 'duplicate' | 'rejected';
  lateness?: Lateness;
  error?: EventError | { code: 'conflict'; message: string };
};

/**
 * POST /v1/events/ingest. Tenant and key checks apply to the whole request (a key writing another tenant's events
 * is refused outright); data errors are per event, and the valid events of a batch are stored.
 */
export function ingestEvents(deps: Deps) {
  return async (ctx: Ctx) => {
    const principal = requireScope(ctx, 'ingest');
    const { events } = parseBody(ctx, ingestBodySchema);

    const tenantIds = new Set<string>();
    for (const e of events) {
      const t = (e as { tenantId?: unknown } | null)?.tenantId;
      if (typeof t === 'string') tenantIds.add(t);
    }
    for (const t of tenantIds) requireTenant(ctx, t);
    const unknown: string[] = [];
    for (const t of tenantIds) if (!(await deps.tenants.get(t))) unknown.push(t);
    if (unknown.length > 0) {
      throw new HttpError(404, 'unknown_tenant', `unknown tenant: ${unknown.join(', ')}; create it with POST /v1/admin/tenants`);
    }

    const prepareCtx = {
      nowMs: Date.now(),
      retentionMs: deps.config.eventRetentionMs,
      timeZoneOf: (t: string) => deps.tenants.timeZoneOf(t),
    };
    const results: Result[] = new Array(events.length);
    const rows: EventRow[] = [];
    const rowIndex: number[] = [];
    events.forEach((input, index) => {
      const r = prepareEvent(input, prepareCtx);
      if (r.ok) {
        rows.push(r.row);
        rowIndex.push(index);
      } else {
        const error = r.error.field ? { ...r.error, field: `events[${index}].${r.error.field}` } : r.error;
        results[index] = { index, idempotencyKey: r.idempotencyKey ?? null, status: 'rejected', error };
      }
    });

    const outcomes = await deps.writer.write(rows);
    outcomes.forEach((outcome, i) => {
      const index = rowIndex[i]!;
      const idempotencyKey = rows[i]!.idempotency_key;
      results[index] =
        outcome.status === 'conflict'
          ? {
              index,
              idempotencyKey,
              status: 'rejected',
              error: { code: 'conflict', message: 'this idempotency key was already used with a different payload' },
            }
          : { index, idempotencyKey, status: outcome.status, ...(outcome.lateness ? { lateness: outcome.lateness } : {}) };
    });

    const counts = { accepted: 0, duplicate: 0, rejected: 0 };
    const perTenant = new Map<string, typeof counts>();
    results.forEach((r, index) => {
      counts[r.status]++;
      const t = (events[index] as { tenantId?: unknown })?.tenantId;
      const tenant = typeof t === 'string' && tenantIds.has(t) ? t : principal.tenantId ?? 'unknown';
      let c = perTenant.get(tenant);
      if (!c) perTenant.set(tenant, (c = { accepted: 0, duplicate: 0, rejected: 0 }));
      c[r.status]++;
    });
    for (const [tenant, c] of perTenant) {
      for (const result of ['accepted', 'duplicate', 'rejected'] as const) {
        if (c[result] > 0) deps.metrics.eventsIngested.inc({ tenant, result }, c[result]);
      }
    }

    ctx.body = {
      accepted: counts.accepted,
      duplicates: counts.duplicate,
      rejected: counts.rejected,
      requestId: ctx.state.requestId,
      results,
    };
  };
}
