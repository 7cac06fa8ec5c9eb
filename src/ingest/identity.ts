import { hash } from 'node:crypto';

export type EventContent = {
  tenantId: string;
  metric: string;
  customerRef: string;
  resourceId: string;
  quantity: string;
  tsMs: number;
  meta: Record<string, string>;
  source: string;
};

/**
 * Canonical content of an event: every field but the idempotency key, with the quantity in canonical decimal
 * form, the timestamp as epoch ms (so `+01:00` and `Z` spellings of one instant agree) and meta keys sorted.
 */
function canonical(e: EventContent): string {
  const meta = Object.keys(e.meta)
    .sort()
    .map((k) => [k, e.meta[k]]);
  return JSON.stringify([e.tenantId, e.metric, e.customerRef, e.resourceId, e.quantity, e.tsMs, meta, e.source]);
}

/**
 * One SHA-256 over the canonical content gives both the fingerprint that tells a true duplicate (same key,
 * same content) from a conflict (same key, other content), and the key of an event sent without one:
 * `auto_` + the first 40 hex digits.
 */
export function fingerprint(e: EventContent): { payloadHash: string; derivedKey: string } {
  const hex = hash('sha256', canonical(e), 'hex');
  return { payloadHash: hex.slice(0, 16), derivedKey: `auto_${hex.slice(0, 40)}` };
}
