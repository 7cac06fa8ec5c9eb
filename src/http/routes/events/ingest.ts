import type { Deps } from '../../deps.js';
import { parseBody, requireScope, requireTenant, type Ctx } from '../../context.js';
import { HttpError } from '../../errors.js';
import { findInexact, inexactMessage } from '../../exact-json.js';
import { prepareEvent, rejected, type EventError, type EventRow, type PrepareResult } from '../../../ingest/event.js';
import { cloudEventField, cloudEventMediaType, cloudEventsBatchMediaType, fromCloudEvent } from '../../../ingest/cloudevents.js';
import type { Lateness } from '../../../ingest/writer.js';
import type { Principal } from '../../../auth/keys.js';
import { InsufficientStorageError } from '../../../ops/disk.js';
import { cloudEventsBatchSchema, ingestBodySchema } from './schema.js';

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
    const { events, refusals, fieldOf } = readEvents(ctx, principal);

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

    // Refused whole before any work on the events: nothing of the request is stored, and a retry costs little.
    const full = deps.disk.refusal();
    if (full) {
      deps.metrics.ingestRefused.inc({ reason: 'disk' });
      throw new InsufficientStorageError(`${full}; nothing from this request was stored: retry after Retry-After with the same idempotency keys`);
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
    const expired: EventRow[] = [];
    const expiredIndex: number[] = [];
    for (let index = 0; index < events.length; index++) {
      const refusal = refusals[index];
      const inexact = !refusal && ctx.state.inexactNumbers ? findInexact(events[index]) : undefined;
      const r =
        refusal ??
        (inexact
          ? rejected(events[index], { code: 'invalid_event', message: `${inexact.path} ${inexactMessage(inexact.number)}`, field: inexact.path })
          : prepareEvent(events[index], prepareCtx));
      if (r.ok) {
        rows.push(r.row);
        rowIndex.push(index);
      } else {
        const error = r.error.field ? { ...r.error, field: fieldOf(index, r.error.field, r !== refusal && !inexact) } : r.error;
        results[index] = { index, idempotencyKey: r.idempotencyKey ?? null, status: 'rejected', error };
        if (r.expired) {
          expired.push(r.expired);
          expiredIndex.push(index);
        }
      }
    }

    // Refused for age alone: the very event already stored (its raw row perhaps dropped since, its key kept) is a
    // duplicate, never counted again. Asked before the write, so a failure here stores nothing of the request.
    const known = await deps.writer.known(expired);
    for (let i = 0; i < known.length; i++) {
      if (known[i]) results[expiredIndex[i]!] = { index: expiredIndex[i]!, idempotencyKey: expired[i]!.idempotency_key, status: 'duplicate' };
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

type IngestInput = {
  /** Events in the ingest shape (a CloudEvent already mapped; one that could not be is undefined, refused below). */
  events: unknown[];
  /** Per index, a refusal made before the event checks (a CloudEvent that does not map). */
  refusals: Array<PrepareResult | undefined>;
  /** The client's path of a field of event `index`; `mapped`: the field is the ingest event's, not the body's. */
  fieldOf(index: number, field: string, mapped: boolean): string;
};

/** The request's events: a JSON `{events}` batch, or CloudEvents (one, or a batch) mapped to the same shape. */
function readEvents(ctx: Ctx, principal: Principal): IngestInput {
  const type = ctx.is(cloudEventMediaType, cloudEventsBatchMediaType);
  if (!type) {
    const { events } = parseBody(ctx, ingestBodySchema);
    return { events, refusals: [], fieldOf: (index, field) => `events[${index}].${field}` };
  }
  const cloudEvents = type === cloudEventsBatchMediaType ? parseBody(ctx, cloudEventsBatchSchema) : [ctx.state.body];
  const events: unknown[] = new Array(cloudEvents.length);
  const refusals: Array<PrepareResult | undefined> = new Array(cloudEvents.length);
  const quantityFields: string[] = new Array(cloudEvents.length);
  for (let i = 0; i < cloudEvents.length; i++) {
    // An inexact number is reported at its CloudEvent path, before mapping moves it.
    const inexact = ctx.state.inexactNumbers ? findInexact(cloudEvents[i]) : undefined;
    const m = inexact ? undefined : fromCloudEvent(cloudEvents[i], principal.tenantId);
    if (inexact) {
      const id = (cloudEvents[i] as { id?: unknown }).id;
      const error: EventError = { code: 'invalid_event', message: `${inexact.path} ${inexactMessage(inexact.number)}`, field: inexact.path };
      refusals[i] = typeof id === 'string' ? { ok: false, idempotencyKey: id.slice(0, 255), error } : { ok: false, error };
    } else if (m!.ok) {
      events[i] = m!.event;
      quantityFields[i] = m!.quantityField;
    } else {
      refusals[i] = m as PrepareResult;
    }
  }
  const prefix = (index: number) => (type === cloudEventsBatchMediaType ? `[${index}].` : '');
  return {
    events,
    refusals,
    fieldOf: (index, field, mapped) => prefix(index) + (mapped ? cloudEventField(field, quantityFields[index] ?? 'data.quantity') : field),
  };
}
