import { z } from 'zod';
import { chInt } from '../schema.js';
import { defineInsert, defineQuery } from './define.js';
import { aggregations } from './meters.js';

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
  /** The mapped Stripe meter's formula ('' when unmapped). */
  formula: z.string(),
  customerPayloadKey: z.string(),
  valuePayloadKey: z.string(),
  mappingActive: chInt.transform(Boolean),
  stripeCustomerId: z.string(),
  /** The metric's meter aggregation, '' without a definition (a sum). */
  aggregation: z.enum([...aggregations, '']),
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
  customerPayloadKey: z.string(),
  valuePayloadKey: z.string(),
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

const itemParams = z.object({ tenantId: z.string(), metric: z.string(), customerRef: z.string(), period: z.string() });

/** Local totals against what Stripe acknowledged: with onlyChanged 1 the items to push, plus those of `alsoKeys`. */
export const pushDeltas = defineQuery({
  sql: 'push/push_deltas',
  params: z.object({
    tenantId: z.string(),
    onlyChanged: z.union([z.literal(0), z.literal(1)]),
    alsoKeys: z.array(z.tuple([z.string(), z.string(), z.string(), z.string()])),
  }),
  row: pushItem,
});

/** Intents not settled yet (pending, failed, stuck); tenantId '' for every tenant. */
export const openIntents = defineQuery({ sql: 'push/open_intents', params: z.object({ tenantId: z.string() }), row: intent });

/** What Stripe holds for one item as far as the ledger knows, and how many of its pushes are in flight. */
export const pushedItem = defineQuery({
  sql: 'push/pushed_item',
  params: itemParams,
  row: z.object({ pushed: chInt.nullable(), seq: chInt.nullable(), open: chInt }),
});

/** Items in permanent error, over every tenant (readiness). */
export const failedItems = defineQuery({ sql: 'push/failed_items', params: z.object({}), row: z.object({ failed: chInt }) });

const int = z.number().int();
const time = z.string();

/** A new version of each intent's row. */
export const insertIntents = defineInsert({
  table: 'push_log',
  row: z.object({
    identifier: z.string(),
    tenantId: z.string(),
    metric: z.string(),
    customerRef: z.string(),
    period: z.string(),
    seq: int,
    generation: int,
    meterId: z.string(),
    eventName: z.string(),
    customerPayloadKey: z.string(),
    valuePayloadKey: z.string(),
    stripeCustomerId: z.string(),
    baseTotal: int,
    targetTotal: int,
    value: int,
    eventTs: int,
    status: z.enum(intentStatuses),
    attempts: int,
    lastError: z.string(),
    lastErrorCode: z.string(),
    lastHttpStatus: int,
    nextAttemptAt: time,
    createdAt: time,
    updatedAt: time,
    version: z.string(),
  }),
});

/** What Stripe holds for an item, as acknowledged (or re-based by reconciliation). */
export const insertPushedTotals = defineInsert({
  table: 'pushed_totals',
  row: z.object({
    tenantId: z.string(),
    metric: z.string(),
    customerRef: z.string(),
    period: z.string(),
    pushedTotal: int,
    seq: int,
    lastIdentifier: z.string(),
    version: z.string(),
  }),
});
