import type { ClickHouseClient } from '@clickhouse/client';
import { z } from 'zod';
import { chInt } from '../storage/schema.js';
import { loadSql } from '../storage/sql.js';
import { nextVersion } from '../storage/version.js';
import { toClickHouseTime } from '../storage/time.js';

export const pushItem = z.object({
  tenantId: z.string(),
  metric: z.string(),
  customerRef: z.string(),
  period: z.string(),
  localTotal: z.string(),
  target: chInt,
  pushed: chInt,
  seq: chInt,
  delta: chInt,
  meterId: z.string(),
  eventName: z.string(),
  mappingActive: chInt.transform(Boolean),
  stripeCustomerId: z.string(),
  /** The metric's meter aggregation, '' without a definition (a sum). */
  aggregation: z.string(),
});
export type PushItem = z.infer<typeof pushItem>;

export const intentStatuses = ['pending', 'acked', 'failed', 'superseded', 'expired', 'stuck'] as const;
export type IntentStatus = (typeof intentStatuses)[number];

export const intent = z.object({
  identifier: z.string(),
  tenantId: z.string(),
  metric: z.string(),
  customerRef: z.string(),
  period: z.string(),
  seq: chInt,
  generation: chInt,
  meterId: z.string(),
  eventName: z.string(),
  stripeCustomerId: z.string(),
  baseTotal: chInt,
  targetTotal: chInt,
  value: chInt,
  eventTs: chInt,
  status: z.enum(intentStatuses),
  attempts: chInt,
  lastError: z.string(),
  lastErrorCode: z.string(),
  lastHttpStatus: chInt,
  nextAttemptAt: chInt,
  createdAt: chInt,
});
export type Intent = z.infer<typeof intent>;

export const itemKey = (i: { tenantId: string; metric: string; customerRef: string; period: string }) =>
  `${i.tenantId}\u0000${i.metric}\u0000${i.customerRef}\u0000${i.period}`;

export class PushInFlightError extends Error {
  constructor() {
    super('a push for this item is in flight (its outcome is not known yet); retry after the next push cycle');
  }
}

/** Reads and writes of the push ledger: the diff, open intents, intent state changes and acknowledged totals. */
export class PushLedger {
  constructor(private readonly client: ClickHouseClient) {}

  /** Items to push (or, with onlyChanged false, every item), plus the items of `alsoKeys` whatever their delta. */
  async diff(tenantId: string, onlyChanged: boolean, alsoKeys: Array<[string, string, string, string]> = []): Promise<PushItem[]> {
    const rs = await this.client.query({
      query: loadSql('push/push_deltas'),
      query_params: { tenantId, onlyChanged: onlyChanged ? 1 : 0, alsoKeys },
      format: 'JSONEachRow',
    });
    return z.array(pushItem).parse(await rs.json());
  }

  async openIntents(tenantId: string): Promise<Intent[]> {
    const rs = await this.client.query({ query: loadSql('push/open_intents'), query_params: { tenantId }, format: 'JSONEachRow' });
    return z.array(intent).parse(await rs.json());
  }

  /** Writes the current state of intents (a new version of each row). */
  async saveIntents(intents: Intent[]): Promise<void> {
    if (intents.length === 0) return;
    await this.client.insert({
      table: 'push_log',
      values: intents.map((i) => ({
        identifier: i.identifier,
        tenant_id: i.tenantId,
        metric: i.metric,
        customer_ref: i.customerRef,
        period: i.period,
        seq: i.seq,
        generation: i.generation,
        meter_id: i.meterId,
        event_name: i.eventName,
        stripe_customer_id: i.stripeCustomerId,
        base_total: i.baseTotal,
        target_total: i.targetTotal,
        value: i.value,
        event_ts: i.eventTs,
        status: i.status,
        attempts: i.attempts,
        last_error: i.lastError,
        last_error_code: i.lastErrorCode,
        last_http_status: i.lastHttpStatus,
        next_attempt_at: toClickHouseTime(i.nextAttemptAt),
        created_at: toClickHouseTime(i.createdAt),
        updated_at: toClickHouseTime(Date.now()),
        version: nextVersion(),
      })),
      format: 'JSONEachRow',
    });
  }

  /**
   * Re-bases what the ledger believes Stripe holds for an item by `units` (a reconciliation adjustment): the next
   * push then sends the difference between local and Stripe's actual total. Refused while a push is in flight.
   */
  async rebase(item: { tenantId: string; metric: string; customerRef: string; period: string }, units: number, reference: string): Promise<void> {
    await this.assertNoPushInFlight(item);
    const rs = await this.client.query({ query: loadSql('push/pushed_item'), query_params: item, format: 'JSONEachRow' });
    const [row] = await rs.json<{ pushed: string | number; seq: string | number }>();
    await this.client.insert({
      table: 'pushed_totals',
      values: [
        {
          tenant_id: item.tenantId,
          metric: item.metric,
          customer_ref: item.customerRef,
          period: item.period,
          pushed_total: Number(row?.pushed ?? 0) + units,
          // A new sequence number: identifiers of later pushes must differ from those sent before the re-base.
          seq: Number(row?.seq ?? 0) + 1,
          last_identifier: reference,
          version: nextVersion(),
        },
      ],
      format: 'JSONEachRow',
    });
  }

  async assertNoPushInFlight(item: { tenantId: string; metric: string; customerRef: string; period: string }): Promise<void> {
    const rs = await this.client.query({ query: loadSql('push/pushed_item'), query_params: item, format: 'JSONEachRow' });
    const [row] = await rs.json<{ open: string | number }>();
    if (Number(row?.open ?? 0) > 0) throw new PushInFlightError();
  }

  /** Moves pushed_total for acknowledged intents. Idempotent: writing the same target twice changes nothing. */
  async savePushed(acked: Intent[]): Promise<void> {
    if (acked.length === 0) return;
    await this.client.insert({
      table: 'pushed_totals',
      values: acked.map((i) => ({
        tenant_id: i.tenantId,
        metric: i.metric,
        customer_ref: i.customerRef,
        period: i.period,
        pushed_total: i.targetTotal,
        seq: i.seq,
        last_identifier: i.identifier,
        version: nextVersion(),
      })),
      format: 'JSONEachRow',
    });
  }
}
