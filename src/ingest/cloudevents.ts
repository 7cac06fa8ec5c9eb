import type { EventError } from './event.js';

/** The media types of a CloudEvents body in structured mode: one event, or a batch (a JSON array of events). */
export const cloudEventMediaType = 'application/cloudevents+json';
export const cloudEventsBatchMediaType = 'application/cloudevents-batch+json';

// Context attributes taken. Extension attributes are refused rather than dropped: nothing sent is silently lost.
// `dataschema` only describes `data`, so it is accepted and not kept.
const attributes = new Set(['specversion', 'id', 'source', 'type', 'subject', 'time', 'datacontenttype', 'dataschema', 'data']);

/** Where each field of an event comes from in a CloudEvent, to name the client's own field in a rejection. */
const fieldOrigin: Record<string, string> = {
  tenantId: 'data.tenantId',
  metric: 'type',
  customerRef: 'subject',
  ts: 'time',
  idempotencyKey: 'id',
  source: 'source',
};

export type CloudEventMapping =
  | { ok: true; event: Record<string, unknown>; quantityField: 'data.quantity' | 'data.value' }
  | { ok: false; idempotencyKey?: string; error: EventError };

/**
 * One CloudEvent (specversion 1.0, JSON `data`) as an ingest event: `id` -> idempotencyKey, `type` -> metric,
 * `subject` -> customerRef, `time` -> ts, `source` -> source, `data.tenantId` (else the key's tenant) -> tenantId,
 * `data.quantity` or `data.value` -> quantity, every other `data` member -> meta (strings only). The values are
 * then checked as any event's are.
 */
export function fromCloudEvent(input: unknown, keyTenant: string | null): CloudEventMapping {
  const refuse = (message: string, field?: string): CloudEventMapping => {
    const id = (input as { id?: unknown } | null)?.id;
    const error: EventError = field ? { code: 'invalid_event', message, field } : { code: 'invalid_event', message };
    return typeof id === 'string' ? { ok: false, idempotencyKey: id.slice(0, 255), error } : { ok: false, error };
  };
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return refuse('must be a CloudEvent (a JSON object)');
  const ce = input as Record<string, unknown>;
  for (const key of Object.keys(ce)) {
    if (!attributes.has(key)) {
      return refuse(`unsupported CloudEvents attribute ${key.slice(0, 64)}; send ${[...attributes].join(', ')}`, key.slice(0, 64));
    }
  }
  if (ce.specversion !== '1.0') return refuse('specversion must be "1.0"', 'specversion');
  for (const required of ['id', 'type', 'source', 'subject', 'time'] as const) {
    if (typeof ce[required] !== 'string') return refuse(`${required} is required, as a string`, required);
  }
  if (ce.datacontenttype !== undefined && !/^application\/json(\s*;.*)?$/i.test(String(ce.datacontenttype))) {
    return refuse('datacontenttype must be application/json (or absent)', 'datacontenttype');
  }
  if (ce.dataschema !== undefined && typeof ce.dataschema !== 'string') return refuse('dataschema must be a string', 'dataschema');
  const data = ce.data;
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return refuse('data must be a JSON object', 'data');
  const d = data as Record<string, unknown>;
  if (Object.hasOwn(d, 'quantity') && Object.hasOwn(d, 'value')) {
    return refuse('send the quantity as data.quantity or data.value, not both', 'data.value');
  }
  const quantityField = Object.hasOwn(d, 'quantity') ? 'data.quantity' : 'data.value';
  if (!Object.hasOwn(d, quantityField.slice(5))) return refuse('data.quantity (or data.value) is required', 'data.quantity');
  let tenantId: unknown = keyTenant;
  if (Object.hasOwn(d, 'tenantId')) tenantId = d.tenantId;
  if (tenantId === null) return refuse('data.tenantId is required for a key bound to no tenant', 'data.tenantId');
  const meta: Array<[string, string]> = [];
  for (const [key, value] of Object.entries(d)) {
    if (key === 'tenantId' || key === 'quantity' || key === 'value') continue;
    if (typeof value !== 'string') return refuse(`data.${key} must be a string (other data members are kept as meta)`, `data.${key}`);
    meta.push([key, value]);
  }
  const event: Record<string, unknown> = {
    tenantId,
    metric: ce.type,
    customerRef: ce.subject,
    quantity: d[quantityField.slice(5)],
    ts: ce.time,
    idempotencyKey: ce.id,
    source: ce.source,
  };
  // Built as own data properties (a `__proto__` member stays a key, for the event checks to refuse by name).
  if (meta.length > 0) event.meta = Object.fromEntries(meta);
  return { ok: true, event, quantityField };
}

/** The CloudEvent field an event field came from (`customerRef` -> `subject`, `meta.region` -> `data.region`). */
export function cloudEventField(field: string, quantityField: string): string {
  if (field === 'quantity') return quantityField;
  if (field === 'meta') return 'data';
  if (field.startsWith('meta.')) return `data.${field.slice(5)}`;
  return fieldOrigin[field] ?? field;
}
