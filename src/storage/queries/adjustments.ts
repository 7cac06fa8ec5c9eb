import { z } from 'zod';
import { defineInsert, defineQuery } from './define.js';

export const adjustmentReasons = ['backfill', 'correction', 'duplicate', 'reconciliation', 'credit', 'manual'] as const;
export type AdjustmentReason = (typeof adjustmentReasons)[number];
export const adjustmentStatuses = ['pending', 'approved', 'reverted'] as const;
export type AdjustmentStatus = (typeof adjustmentStatuses)[number];

export const adjustment = z.object({
  id: z.string(),
  tenantId: z.string(),
  metric: z.string(),
  customerRef: z.string(),
  period: z.string(),
  delta: z.string(),
  reason: z.enum(adjustmentReasons),
  note: z.string(),
  status: z.enum(adjustmentStatuses),
  revertsId: z.string(),
  createdBy: z.string(),
  createdAt: z.string(),
  approvedBy: z.string(),
  approvedAt: z.string(),
  updatedBy: z.string(),
  updatedAt: z.string(),
});
export type Adjustment = z.infer<typeof adjustment>;

/**
 * Current versions, newest first, after the (beforeSecond, beforeId) keyset cursor (beforeId '': from the newest);
 * each filter '' matches all, tenantId '' every tenant.
 */
export const listAdjustments = defineQuery({
  sql: 'adjustments/list_adjustments',
  params: z.object({
    tenantId: z.string(),
    id: z.string(),
    metric: z.string(),
    customerRef: z.string(),
    period: z.string(),
    status: z.string(),
    reason: z.string(),
    beforeSecond: z.number().int(),
    beforeId: z.string(),
    limit: z.number().int().positive(),
  }),
  row: adjustment,
});

/** A new version of an adjustment's row; times as ClickHouse text. */
export const insertAdjustment = defineInsert({
  table: 'adjustments',
  row: adjustment.extend({ approvedAt: z.string().nullable(), version: z.string() }),
});
