import { z } from 'zod';
import { fingerprint } from './identity.js';
import { parseQuantity } from './quantity.js';
import { parseTimestamp } from './timestamp.js';
import { toClickHouseTime } from '../storage/time.js';
import { dayStartOf, periodOf } from '../time/period.js';
import type { MeterSpec } from '../meters/definitions.js';

export const identifier = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;
const tenantIdPattern = /^[a-z0-9][a-z0-9_-]*$/;
export const tenantIdSchema = z.string().min(1).max(64).regex(tenantIdPattern, 'must be lowercase letters, digits, _ or -');
export const metricSchema = z.string().min(1).max(128).regex(identifier, 'must be letters, digits, _ . : or -');
export const customerRefSchema = z.string().min(1).max(255);

const maxMetaBytes = 4096;
const maxFutureMs = 5 * 60_000;

/** The event as clients send it. Quantity and ts are checked beyond their type below. */
export const eventSchema = z.strictObject({
  tenantId: tenantIdSchema,
  metric: metricSchema,
  customerRef: customerRefSchema,
  resourceId: z.string().max(255).optional(),
  quantity: z.union([z.number(), z.string()]),
  ts: z.string().max(64),
  idempotencyKey: z.string().min(1).max(255).optional(),
  meta: z
    .record(z.string(), z.string())
    .optional()
    .refine((m) => m === undefined || Buffer.byteLength(JSON.stringify(m)) <= maxMetaBytes, {
      message: `must be at most ${maxMetaBytes} bytes as JSON`,
    }),
  source: z.string().max(128).optional(),
});

/** A validated event, ready to insert: field names are the `events` columns. */
export type EventRow = {
  tenant_id: string;
  idempotency_key: string;
  metric: string;
  customer_ref: string;
  resource_id: string;
  quantity: string;
  ts: string;
  period: string;
  meta: Record<string, string>;
  source: string;
  payload_hash: string;
  /** 0 counted; 1 later than the lateness window (set by the writer against the counter's watermark). */
  beyond_window: 0 | 1;
  /** Set only for a metric with a meter definition (docs/meters.md); absent, the columns' defaults are a plain sum. */
  aggregation?: string;
  dimensions?: Record<string, string>;
  unique_value?: string;
  /** The UTC instant the event's local day starts at in the tenant's zone (`YYYY-MM-DD hh:mm:ss`): the daily states' key. */
  day?: string;
};

export type EventError = { code: 'invalid_event' | 'timestamp_out_of_range'; message: string; field?: string };

/**
 * `expired`: the event as it would have been stored, when it was refused only for being older than EVENT_RETENTION
 * (ingest answers `duplicate` when that very event is stored: a retry of an old key is never counted again).
 */
export type PrepareResult = { ok: true; row: EventRow } | { ok: false; idempotencyKey?: string; error: EventError; expired?: EventRow };

export type PrepareContext = {
  nowMs: number;
  retentionMs: number;
  timeZoneOf: (tenantId: string) => string;
  /** The metric's meter definition, when it has one. */
  meterOf?: (tenantId: string, metric: string) => MeterSpec | undefined;
};

type Event = z.infer<typeof eventSchema>;

const eventKeys = new Set(Object.keys(eventSchema.shape));
const optionalString = (v: unknown, min: number, max: number) =>
  v === undefined || (typeof v === 'string' && v.length >= min && v.length <= max);

/**
 * The input itself when it certainly passes eventSchema, else undefined (then eventSchema decides and words the
 * error). zod costs several µs per event; this check accepts a subset of what the schema accepts, so its answer
 * never differs from the schema's.
 */
export function acceptedWithoutSchema(input: unknown): Event | undefined {
  if (typeof input !== 'object' || input === null || Object.getPrototypeOf(input) !== Object.prototype) return undefined;
  const e = input as Record<string, unknown>;
  for (const key in e) if (!eventKeys.has(key)) return undefined;
  const { tenantId, metric, customerRef, quantity, ts, meta } = e;
  const valid =
    typeof tenantId === 'string' && tenantId.length <= 64 && tenantIdPattern.test(tenantId) &&
    typeof metric === 'string' && metric.length <= 128 && identifier.test(metric) &&
    typeof customerRef === 'string' && customerRef.length >= 1 && customerRef.length <= 255 &&
    ((typeof quantity === 'number' && Number.isFinite(quantity)) || typeof quantity === 'string') &&
    typeof ts === 'string' && ts.length <= 64 &&
    optionalString(e.resourceId, 0, 255) &&
    optionalString(e.idempotencyKey, 1, 255) &&
    optionalString(e.source, 0, 128) &&
    (meta === undefined || metaWithinLimit(meta));
  return valid ? (e as Event) : undefined;
}

/**
 * A plain string-to-string meta whose JSON is certainly within maxMetaBytes: each UTF-16 unit takes at most 6 bytes
 * of JSON (a `\uXXXX` escape), each entry 6 more for quotes, colon and comma. Larger ones are left to the schema.
 */
function metaWithinLimit(meta: unknown): boolean {
  if (typeof meta !== 'object' || meta === null || Object.getPrototypeOf(meta) !== Object.prototype) return false;
  let bound = 2;
  for (const key in meta) {
    const value = (meta as Record<string, unknown>)[key];
    if (typeof value !== 'string' || key === '__proto__') return false;
    bound += 6 + 6 * (key.length + value.length);
  }
  return bound <= maxMetaBytes;
}

const malformedMessage = 'must be well-formed Unicode (it holds a lone UTF-16 surrogate)';
const unicodeFields = ['tenantId', 'metric', 'customerRef', 'resourceId', 'quantity', 'ts', 'idempotencyKey', 'source'] as const;

/**
 * A lone surrogate cannot be encoded as UTF-8, so the engine would refuse the whole group commit's INSERT, every
 * tenant's rows with it: such an event is refused on its own here.
 */
function malformedUnicode(e: Event): EventError | undefined {
  for (const field of unicodeFields) {
    const value = e[field];
    if (typeof value === 'string' && !value.isWellFormed()) return { code: 'invalid_event', message: malformedMessage, field };
  }
  for (const key in e.meta) {
    if (!key.isWellFormed()) return { code: 'invalid_event', message: `keys ${malformedMessage}`, field: 'meta' };
    if (!e.meta[key]!.isWellFormed()) return { code: 'invalid_event', message: malformedMessage, field: `meta.${key}` };
  }
  return undefined;
}

/** A refusal of the event, with its idempotency key when it sent one as a string (for the client to match). */
export function rejected(input: unknown, error: EventError): Extract<PrepareResult, { ok: false }> {
  const key = (input as { idempotencyKey?: unknown } | null)?.idempotencyKey;
  return typeof key === 'string' ? { ok: false, idempotencyKey: key.slice(0, 255), error } : { ok: false, error };
}

/** Validates and normalises one event. `field` paths are relative to the event (`quantity`, `meta.region`). */
export function prepareEvent(input: unknown, ctx: PrepareContext): PrepareResult {
  let e = acceptedWithoutSchema(input);
  if (e === undefined) {
    // JSON.parse keeps a `__proto__` key as an own property, but copying it anywhere by assignment (zod's record
    // does) drops it or swaps the copy's prototype: refused rather than lost. `constructor` and the like are kept.
    const meta = (input as { meta?: unknown } | null)?.meta;
    if (typeof meta === 'object' && meta !== null && Object.hasOwn(meta, '__proto__')) {
      return rejected(input, { code: 'invalid_event', message: 'meta key __proto__ is reserved; rename it', field: 'meta.__proto__' });
    }
    const parsed = eventSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return rejected(input, { code: 'invalid_event', message: issue.message, field: issue.path.join('.') });
    }
    e = parsed.data;
  }
  const malformed = malformedUnicode(e);
  if (malformed) return rejected(input, malformed);
  const quantity = parseQuantity(e.quantity);
  if (!quantity.ok) return rejected(input, { code: 'invalid_event', message: `quantity ${quantity.message}`, field: 'quantity' });
  const tsMs = parseTimestamp(e.ts);
  if (tsMs === null) {
    return rejected(input, { code: 'invalid_event', message: 'ts must be an ISO 8601 timestamp with a zone, e.g. 2026-11-25T10:00:00Z', field: 'ts' });
  }
  if (tsMs > ctx.nowMs + maxFutureMs) {
    return rejected(input, { code: 'timestamp_out_of_range', message: 'ts is more than 5 minutes in the future', field: 'ts' });
  }
  const tooOld: EventError | undefined =
    tsMs < ctx.nowMs - ctx.retentionMs
      ? { code: 'timestamp_out_of_range', message: 'ts is older than the event retention (EVENT_RETENTION)', field: 'ts' }
      : undefined;
  const content = {
    tenantId: e.tenantId,
    metric: e.metric,
    customerRef: e.customerRef,
    resourceId: e.resourceId ?? '',
    quantity: quantity.value,
    tsMs,
    meta: e.meta ?? {},
    source: e.source ?? '',
  };
  const meter = ctx.meterOf?.(content.tenantId, content.metric);
  const own = (key: string) => (Object.hasOwn(content.meta, key) ? content.meta[key]! : undefined);
  const uniqueValue = meter?.aggregation === 'unique_count' ? own(meter.uniqueBy) : undefined;
  if (meter?.aggregation === 'unique_count' && !uniqueValue) {
    return rejected(input, tooOld ?? {
      code: 'invalid_event',
      message: `metric ${content.metric} counts distinct values of meta.${meter.uniqueBy} (a unique_count meter): the event needs it, non-empty`,
      field: `meta.${meter.uniqueBy}`,
    });
  }
  const { payloadHash, derivedKey } = fingerprint(content);
  const meterColumns = meter
    ? {
        aggregation: meter.aggregation,
        // In the definition's order, so one combination of values is one key of the meter states.
        dimensions: Object.fromEntries(meter.dimensions.map((d) => [d, own(d) ?? ''])),
        unique_value: uniqueValue ?? '',
        day: toClickHouseTime(dayStartOf(tsMs, ctx.timeZoneOf(content.tenantId))).slice(0, 19),
      }
    : {};
  const row: EventRow = {
    tenant_id: content.tenantId,
    idempotency_key: e.idempotencyKey ?? derivedKey,
    metric: content.metric,
    customer_ref: content.customerRef,
    resource_id: content.resourceId,
    quantity: content.quantity,
    ts: toClickHouseTime(tsMs),
    period: periodOf(tsMs, ctx.timeZoneOf(content.tenantId)),
    meta: content.meta,
    source: content.source,
    payload_hash: payloadHash,
    beyond_window: 0,
    ...meterColumns,
  };
  return tooOld ? { ...rejected(input, tooOld), expired: row } : { ok: true, row };
}
