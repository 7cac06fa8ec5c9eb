import type { Deps } from '../../deps.js';
import { parseBody, requireScope, requireTenant, type Ctx } from '../../context.js';
import { HttpError } from '../../errors.js';
import { findInexact, inexactMessage } from '../../exact-json.js';
import { prepareEvent, rejected, type EventError, type EventRow } from '../../../ingest/event.js';
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

    // Each event's tenant as sent (undefined when not a string), read once: for the checks and the metrics.
    const tenantOf: Array<string | undefined> = new Array(events.length);
    const tenantIds = new Set<string>();
    for (let i = 0; i < events.length; i++) {
      const t = (events[i] as { tenantId?: unknown } | null)?.tenantId;
      if (typeof t === 'string') {
        tenantOf[i] = t;
        tenantIds.add(t);
      }
    }
    for (const t of tenantIds) requireTenant(ctx, t);
    const unknown: string[] = [];
    for (const t of tenantIds) if (!(await deps.tenants.get(t))) unknown.push(t);
    if (unknown.length > 0) {
      throw new HttpError(404, 'unknown_tenant', `unknown tenant: ${unknown.join(', ')}; create it with POST /v1/admin/tenants`);
    }

    for (const t of tenantIds) await deps.meters.load(t);
    const prepareCtx = {
      nowMs: Date.now(),
      retentionMs: deps.config.eventRetentionMs,
      timeZoneOf: (t: string) => deps.tenants.timeZoneOf(t),
      meterOf: (t: string, metric: string) => deps.meters.cached(t, metric),
    };
    const results: Result[] = new Array(events.length);
    const rows: EventRow[] = [];
    const rowIndex: number[] = [];
    for (let index = 0; index < events.length; index++) {
      const inexact = ctx.state.inexactNumbers ? findInexact(events[index]) : undefined;
      const r = inexact
        ? rejected(events[index], { code: 'invalid_event', message: `${inexact.path} ${inexactMessage(inexact.number)}`, field: inexact.path })
        : prepareEvent(events[index], prepareCtx);
      if (r.ok) {
        rows.push(r.row);
        rowIndex.push(index);
      } else {
        const error = r.error.field ? { ...r.error, field: `events[${index}].${r.error.field}` } : r.error;
        results[index] = { index, idempotencyKey: r.idempotencyKey ?? null, status: 'rejected', error };
      }
    }

    const outcomes = await deps.writer.write(rows);
    for (let i = 0; i < outcomes.length; i++) {
      const outcome = outcomes[i]!;
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
          : outcome.lateness
            ? { index, idempotencyKey, status: outcome.status, lateness: outcome.lateness }
            : { index, idempotencyKey, status: outcome.status };
    }

    const counts = { accepted: 0, duplicate: 0, rejected: 0 };
    const perTenant = new Map<string, typeof counts>();
    const fallbackTenant = principal.tenantId ?? 'unknown';
    for (let index = 0; index < results.length; index++) {
      const status = results[index]!.status;
      counts[status]++;
      const tenant = tenantOf[index] ?? fallbackTenant;
      let c = perTenant.get(tenant);
      if (!c) perTenant.set(tenant, (c = { accepted: 0, duplicate: 0, rejected: 0 }));
      c[status]++;
    }
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
