import { z } from 'zod';
import { adjustmentReasons, adjustmentStatuses } from '../../../storage/queries/adjustments.js';
import { customerRefSchema, metricSchema, tenantIdSchema } from '../../../ingest/event.js';
import { parseQuantity } from '../../../ingest/quantity.js';
import { periodSchema } from '../../../time/range.js';
import { nextCursorSchema, pageQuery } from '../../pagination.js';

/** A signed decimal with at most 6 decimals, not zero, as canonical text. */
const signedDelta = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const text = String(v).trim();
  const negative = text.startsWith('-');
  const q = parseQuantity(negative ? text.slice(1) : typeof v === 'number' ? Math.abs(v) : text);
  if (!q.ok) {
    ctx.addIssue({ code: 'custom', message: `delta ${q.message}` });
    return z.NEVER;
  }
  if (q.value === '0') {
    ctx.addIssue({ code: 'custom', message: 'delta must not be zero' });
    return z.NEVER;
  }
  return negative ? `-${q.value}` : q.value;
});

export const createAdjustmentSchema = z
  .strictObject({
    tenantId: tenantIdSchema,
    metric: metricSchema,
    customerRef: customerRefSchema,
    period: periodSchema,
    delta: signedDelta,
    reason: z.enum(adjustmentReasons),
    note: z.string().max(2000).default(''),
  })
  .refine((a) => a.reason !== 'reconciliation' || /^-?\d+$/.test(a.delta), {
    message: 'a reconciliation adjustment re-bases the push ledger and must be a whole number of units',
    path: ['delta'],
  });

export const listAdjustmentsQuerySchema = z.strictObject({
  tenantId: tenantIdSchema,
  metric: metricSchema.optional(),
  customerRef: customerRefSchema.optional(),
  period: periodSchema.optional(),
  status: z.enum(adjustmentStatuses).optional(),
  reason: z.enum(adjustmentReasons).optional(),
  ...pageQuery,
});

export const adjustmentIdSchema = z.strictObject({ id: z.string().regex(/^adj_[0-9a-f]{16}$/, 'not an adjustment id') });

// Responses, described for the OpenAPI spec.
export const adjustmentSchema = z.looseObject({
  id: z.string(),
  tenantId: z.string(),
  metric: z.string(),
  customerRef: z.string(),
  period: z.string(),
  delta: z.string().describe('signed decimal'),
  reason: z.enum(adjustmentReasons),
  note: z.string(),
  status: z.enum(adjustmentStatuses),
});
export const revertedAdjustmentSchema = z.strictObject({
  reverted: adjustmentSchema,
  opposite: adjustmentSchema.nullable().describe('the linked opposite adjustment; null when a pending one was reverted'),
});
export const adjustmentListSchema = z.strictObject({ adjustments: z.array(adjustmentSchema), nextCursor: nextCursorSchema });
