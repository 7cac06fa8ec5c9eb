import type { ClickHouseClient } from '@clickhouse/client';
import {
  insertIntents,
  insertPushedTotals,
  openIntents,
  pushDeltas,
  pushedItem,
  type Intent,
  type PushItem,
} from '../storage/queries/push.js';
import { nextVersion } from '../storage/version.js';
import { toClickHouseTime } from '../storage/time.js';

export type { Intent, PushItem };

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
    return pushDeltas(this.client, { tenantId, onlyChanged: onlyChanged ? 1 : 0, alsoKeys });
  }

  async openIntents(tenantId: string): Promise<Intent[]> {
    return openIntents(this.client, { tenantId });
  }

  /** Writes the current state of intents (a new version of each row). */
  async saveIntents(intents: Intent[]): Promise<void> {
    const updatedAt = toClickHouseTime(Date.now());
    await insertIntents(
      this.client,
      intents.map((i) => ({
        ...i,
        nextAttemptAt: toClickHouseTime(i.nextAttemptAt),
        createdAt: toClickHouseTime(i.createdAt),
        updatedAt,
        version: nextVersion(),
      })),
    );
  }

  /**
   * Re-bases what the ledger believes Stripe holds for an item by `units` (a reconciliation adjustment): the next
   * push then sends the difference between local and Stripe's actual total. Refused while a push is in flight.
   */
  async rebase(item: { tenantId: string; metric: string; customerRef: string; period: string }, units: number, reference: string): Promise<void> {
    await this.assertNoPushInFlight(item);
    const [row] = await pushedItem(this.client, item);
    await insertPushedTotals(this.client, [
      {
        tenantId: item.tenantId,
        metric: item.metric,
        customerRef: item.customerRef,
        period: item.period,
        pushedTotal: (row?.pushed ?? 0) + units,
        // A new sequence number: identifiers of later pushes must differ from those sent before the re-base.
        seq: (row?.seq ?? 0) + 1,
        lastIdentifier: reference,
        version: nextVersion(),
      },
    ]);
  }

  async assertNoPushInFlight(item: { tenantId: string; metric: string; customerRef: string; period: string }): Promise<void> {
    const [row] = await pushedItem(this.client, item);
    if ((row?.open ?? 0) > 0) throw new PushInFlightError();
  }

  /** Moves pushed_total for acknowledged intents. Idempotent: writing the same target twice changes nothing. */
  async savePushed(acked: Intent[]): Promise<void> {
    await insertPushedTotals(
      this.client,
      acked.map((i) => ({
        tenantId: i.tenantId,
        metric: i.metric,
        customerRef: i.customerRef,
        period: i.period,
        pushedTotal: i.targetTotal,
        seq: i.seq,
        lastIdentifier: i.identifier,
        version: nextVersion(),
      })),
    );
  }
}
