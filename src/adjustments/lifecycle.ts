import { PushInFlightError, type PushLedger } from '../stripe/ledger.js';
import type { Adjustment, AdjustmentStore } from './store.js';

export class AdjustmentStateError extends Error {}
export { PushInFlightError };

export type AdjustmentDeps = {
  store: AdjustmentStore;
  ledger: PushLedger;
  /** Runs ledger changes between push cycles, never during one. */
  betweenPushes: <R>(fn: () => Promise<R>) => Promise<R>;
};

/** Whole Stripe units of a reconciliation adjustment (they re-base the push ledger, which counts whole units). */
function units(a: Adjustment): number {
  const n = Number(a.delta);
  if (!Number.isInteger(n)) throw new AdjustmentStateError(`reconciliation adjustment ${a.id} is not a whole number of units`);
  return n;
}

/**
 * pending -> approved. A usage adjustment then counts in local totals (and the next push sends it); a reconciliation
 * adjustment re-bases the push ledger. The status is written before the re-base: should the process stop in
 * between, the next reconciliation finds the gap again instead of the ledger moving twice.
 */
export async function approve(deps: AdjustmentDeps, a: Adjustment, by: string): Promise<Adjustment> {
  if (a.status !== 'pending') throw new AdjustmentStateError(`adjustment ${a.id} is ${a.status}; only a pending adjustment can be approved`);
  if (a.reason !== 'reconciliation') return deps.store.setStatus(a, 'approved', by);
  const n = units(a);
  return deps.betweenPushes(async () => {
    await deps.ledger.assertNoPushInFlight(a);
    const approved = await deps.store.setStatus(a, 'approved', by);
    await deps.ledger.rebase(a, n, `adjustment:${a.id}`);
    return approved;
  });
}

/**
 * approved -> reverted, with a linked opposite adjustment (approved) that undoes its effect; pending -> reverted
 * (it never counted). Returns the reverted adjustment and the opposite one, if any.
 */
export async function revert(deps: AdjustmentDeps, a: Adjustment, by: string): Promise<{ reverted: Adjustment; opposite: Adjustment | null }> {
  if (a.status === 'reverted') throw new AdjustmentStateError(`adjustment ${a.id} is already reverted`);
  if (a.revertsId) throw new AdjustmentStateError(`adjustment ${a.id} is itself a revert of ${a.revertsId}; revert cannot be reverted`);
  if (a.status === 'pending') return { reverted: await deps.store.setStatus(a, 'reverted', by), opposite: null };
  const opposite = {
    tenantId: a.tenantId,
    metric: a.metric,
    customerRef: a.customerRef,
    period: a.period,
    delta: a.delta.startsWith('-') ? a.delta.slice(1) : `-${a.delta}`,
    reason: a.reason,
    note: `revert of ${a.id}`,
    status: 'approved' as const,
    revertsId: a.id,
    createdBy: by,
  };
  if (a.reason !== 'reconciliation') {
    const created = await deps.store.create(opposite);
    return { reverted: await deps.store.setStatus(a, 'reverted', by), opposite: created };
  }
  const n = units(a);
  return deps.betweenPushes(async () => {
    await deps.ledger.assertNoPushInFlight(a);
    const created = await deps.store.create(opposite);
    const reverted = await deps.store.setStatus(a, 'reverted', by);
    await deps.ledger.rebase(a, -n, `adjustment:${created.id}`);
    return { reverted, opposite: created };
  });
}
