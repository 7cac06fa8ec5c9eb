import { randomBytes } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import { z } from 'zod';
import { loadSql } from '../storage/sql.js';
import { nextVersion } from '../storage/version.js';
import { toClickHouseTime } from '../storage/time.js';

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

export type AdjustmentFilter = Partial<Pick<Adjustment, 'id' | 'metric' | 'customerRef' | 'period' | 'status' | 'reason'>> & {
  tenantId: string | null;
  limit?: number;
};

/**
 * The adjustments ledger. Usage adjustments (every reason but `reconciliation`) change local totals once approved
 * (and keep counting when reverted, cancelled by their approved opposite);
 * `reconciliation` adjustments re-base what the push ledger believes Stripe holds. Rows are never edited: a status
 * change is a newer version of the row, a revert a linked opposite adjustment.
 */
export class AdjustmentStore {
  constructor(private readonly client: ClickHouseClient) {}

  async list(f: AdjustmentFilter): Promise<Adjustment[]> {
    const rs = await this.client.query({
      query: loadSql('adjustments/list_adjustments'),
      query_params: {
        tenantId: f.tenantId ?? '',
        id: f.id ?? '',
        metric: f.metric ?? '',
        customerRef: f.customerRef ?? '',
        period: f.period ?? '',
        status: f.status ?? '',
        reason: f.reason ?? '',
        limit: f.limit ?? 1000,
      },
      format: 'JSONEachRow',
    });
    return z.array(adjustment).parse(await rs.json());
  }

  async get(tenantId: string | null, id: string): Promise<Adjustment | undefined> {
    return (await this.list({ tenantId, id, limit: 1 }))[0];
  }

  async create(input: {
    tenantId: string;
    metric: string;
    customerRef: string;
    period: string;
    delta: string;
    reason: AdjustmentReason;
    note: string;
    status: AdjustmentStatus;
    revertsId?: string;
    createdBy: string;
  }): Promise<Adjustment> {
    const now = new Date().toISOString();
    const a: Adjustment = {
      id: `adj_${randomBytes(8).toString('hex')}`,
      tenantId: input.tenantId,
      metric: input.metric,
      customerRef: input.customerRef,
      period: input.period,
      delta: input.delta,
      reason: input.reason,
      note: input.note,
      status: input.status,
      revertsId: input.revertsId ?? '',
      createdBy: input.createdBy,
      createdAt: now,
      approvedBy: input.status === 'approved' ? input.createdBy : '',
      approvedAt: input.status === 'approved' ? now : '',
      updatedBy: input.createdBy,
      updatedAt: now,
    };
    await this.save(a);
    return (await this.get(a.tenantId, a.id))!;
  }

  async setStatus(a: Adjustment, status: AdjustmentStatus, by: string): Promise<Adjustment> {
    const now = new Date().toISOString();
    const approval = status === 'approved' ? { approvedBy: by, approvedAt: now } : {};
    await this.save({ ...a, ...approval, status, updatedBy: by, updatedAt: now });
    return (await this.get(a.tenantId, a.id))!;
  }

  private async save(a: Adjustment): Promise<void> {
    await this.client.insert({
      table: 'adjustments',
      values: [
        {
          id: a.id,
          tenant_id: a.tenantId,
          metric: a.metric,
          customer_ref: a.customerRef,
          period: a.period,
          delta: a.delta,
          reason: a.reason,
          note: a.note,
          status: a.status,
          reverts_id: a.revertsId,
          created_by: a.createdBy,
          created_at: toClickHouseTime(a.createdAt),
          approved_by: a.approvedBy,
          approved_at: a.approvedAt ? toClickHouseTime(a.approvedAt) : null,
          updated_by: a.updatedBy,
          updated_at: toClickHouseTime(a.updatedAt),
          version: nextVersion(),
        },
      ],
      format: 'JSONEachRow',
    });
  }
}
