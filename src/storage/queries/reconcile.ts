import { z } from 'zod';
import { chInt } from '../schema.js';
import { defineInsert, defineQuery } from './define.js';

export const reconStatuses = ['ok', 'aligned', 'drift', 'unmapped', 'unpushable'] as const;
export type ReconStatus = (typeof reconStatuses)[number];
export const reconTriggers = ['schedule', 'api', 'summary'] as const;
export const reconRunStatuses = ['running', 'succeeded', 'failed'] as const;

const nullableText = z.string().nullable();

/** An item's totals and verdict, as compared and as reported. */
const itemTotals = {
  local: z.string(),
  stripe: nullableText,
  pushed: chInt,
  pending: chInt,
  diffAbs: nullableText,
  diffPct: z.number().nullable(),
  status: z.enum(reconStatuses),
};

/** One item as sql/reconcile/compare.sql compares it: local, pushed and Stripe's totals, and what explains a difference. */
export const compared = z.object({
  metric: z.string(),
  customerRef: z.string(),
  stripeCustomerId: z.string(),
  period: z.string(),
  ...itemTotals,
  inFlight: chInt.transform(Boolean),
  pushFailed: chInt.transform(Boolean),
  pushError: z.string(),
  lateEvents: chInt,
  lateQuantity: z.string(),
  duplicatesRemovedByReplay: chInt,
  adjustments: chInt,
  adjustmentsTotal: z.string(),
});
export type Compared = z.infer<typeof compared>;

/** Compares the tenant's items in `periods` with Stripe's totals stored under `runId`. */
export const compareItems = defineQuery({
  sql: 'reconcile/compare',
  params: z.object({
    tenantId: z.string(),
    metric: z.string(),
    periods: z.array(z.string()),
    runId: z.string(),
    since: z.string(),
    epsilon: z.number(),
    settleSeconds: z.number().int().nonnegative(),
    unpushablePeriods: z.array(z.string()),
  }),
  row: compared,
});

/** Mapped items of the tenant in `periods` whose Stripe totals a run reads; metric '' for all. */
export const itemsToRead = defineQuery({
  sql: 'reconcile/items',
  params: z.object({ tenantId: z.string(), metric: z.string(), periods: z.array(z.string()) }),
  row: z.object({ metric: z.string(), customerRef: z.string(), period: z.string(), meterId: z.string(), stripeCustomerId: z.string() }),
});

const runRow = z.object({
  id: z.string(),
  tenantId: z.string(),
  metric: z.string(),
  trigger: z.enum(reconTriggers),
  status: z.enum(reconRunStatuses),
  periods: z.array(z.string()),
  counts: z.string(),
  error: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
});

/** A run, for its tenant or (tenantId '') the service admin. */
export const getReconRun = defineQuery({ sql: 'reconcile/get_run', params: z.object({ id: z.string(), tenantId: z.string() }), row: runRow });

/** Runs newest first, after the (beforeSecond, beforeId) keyset cursor (beforeId '': from the newest); '' matches all. */
export const listReconRuns = defineQuery({
  sql: 'reconcile/list_runs',
  params: z.object({
    tenantId: z.string(),
    status: z.enum(['', ...reconRunStatuses]),
    trigger: z.enum(['', ...reconTriggers]),
    beforeSecond: z.number().int(),
    beforeId: z.string(),
    limit: z.number().int().positive(),
  }),
  row: runRow.extend({ itemCount: chInt }),
});

/** The items a run reported. */
export const reconRunItems = defineQuery({
  sql: 'reconcile/run_items',
  params: z.object({ id: z.string(), tenantId: z.string() }),
  row: z.object({
    metric: z.string(),
    customerRef: z.string(),
    stripeCustomer: z.string(),
    period: z.string(),
    ...itemTotals,
    lateCount: chInt,
    lateQuantity: z.string(),
    causes: z.string(),
    adjustmentId: z.string(),
  }),
});

/** The newest successful full run of a tenant. */
export const latestReconRun = defineQuery({
  sql: 'reconcile/latest_run',
  params: z.object({ tenantId: z.string() }),
  row: z.object({ id: z.string(), finishedAt: z.string() }),
});

/** Stripe's total per item, as a run read it. */
export const insertStripeTotals = defineInsert({
  table: 'stripe_reported_totals',
  row: z.object({
    runId: z.string(),
    tenantId: z.string(),
    metric: z.string(),
    customerRef: z.string(),
    period: z.string(),
    meterId: z.string(),
    stripeCustomerId: z.string(),
    stripeTotal: z.string(),
  }),
});

export const insertReconRun = defineInsert({
  table: 'reconciliation_runs',
  row: runRow.extend({ items: z.number().int(), finishedAt: z.string().nullable(), version: z.string() }),
});

export const insertReconReports = defineInsert({
  table: 'reconciliation_reports',
  row: z.object({
    runId: z.string(),
    tenantId: z.string(),
    metric: z.string(),
    customerRef: z.string(),
    stripeCustomerId: z.string(),
    period: z.string(),
    localTotal: z.string(),
    stripeTotal: nullableText,
    pushedTotal: z.number().int(),
    pending: z.number().int(),
    diffAbs: nullableText,
    diffPct: z.number().nullable(),
    status: z.enum(reconStatuses),
    lateEvents: z.number().int(),
    lateQuantity: z.string(),
    causes: z.string(),
    adjustmentId: z.string(),
  }),
});
