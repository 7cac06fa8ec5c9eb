import { randomBytes } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import {
  insertAdjustment,
  listAdjustments,
  type Adjustment,
  type AdjustmentReason,
  type AdjustmentStatus,
} from '../storage/queries/adjustments.js';
import { nextVersion } from '../storage/version.js';
import { toClickHouseTime } from '../storage/time.js';
import type { Before } from '../storage/queries/define.js';

export type { Adjustment, AdjustmentReason, AdjustmentStatus };

export type AdjustmentFilter = Partial<Pick<Adjustment, 'id' | 'metric' | 'customerRef' | 'period' | 'status' | 'reason'>> & {
  tenantId: string | null;
  limit?: number;
  /** Only adjustments after this one in the list's order (newest first): its createdAt second and id. */
  before?: Before | undefined;
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
    return listAdjustments(this.client, {
      tenantId: f.tenantId ?? '',
      id: f.id ?? '',
      metric: f.metric ?? '',
      customerRef: f.customerRef ?? '',
      period: f.period ?? '',
      status: f.status ?? '',
      reason: f.reason ?? '',
      beforeSecond: f.before?.second ?? 0,
      beforeId: f.before?.id ?? '',
      limit: f.limit ?? 1000,
    });
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
    await insertAdjustment(this.client, [
      {
        ...a,
        createdAt: toClickHouseTime(a.createdAt),
        approvedAt: a.approvedAt ? toClickHouseTime(a.approvedAt) : null,
        updatedAt: toClickHouseTime(a.updatedAt),
        version: nextVersion(),
      },
    ]);
  }
}
