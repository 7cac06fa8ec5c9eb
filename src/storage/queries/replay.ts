import { z } from 'zod';
import { chInt } from '../schema.js';
import { defineCommand, defineInsert, defineQuery } from './define.js';

export const replayStatuses = ['running', 'succeeded', 'failed', 'interrupted'] as const;
export const replayModes = ['dry-run', 'apply'] as const;

const runRow = z.object({
  id: z.string(),
  tenantId: z.string(),
  mode: z.enum(replayModes),
  request: z.string(),
  status: z.enum(replayStatuses),
  progress: z.number(),
  result: z.string(),
  error: z.string(),
  createdBy: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
});
export type ReplayRunRow = z.output<typeof runRow>;

/**
 * One (metric, customer, period) of a diffed window (sql/replay/items.sql): the item's local total before and after,
 * what the replay changes and finds, and how many of its hour cells need a counter correction.
 */
export const diffItem = z.object({
  metric: z.string(),
  customerRef: z.string(),
  period: z.string(),
  before: z.string(),
  after: z.string(),
  delta: z.string(),
  eventsDelta: chInt,
  eventsScanned: chInt,
  lateEvents: chInt,
  lateQuantity: z.string(),
  duplicateEvents: chInt,
  stripeDelta: chInt,
  corrections: chInt,
});
export type DiffItem = z.infer<typeof diffItem>;

/** The parameters of every replay statement: the run (its cells), tenant, metrics, customers and hour-aligned window. */
export const windowParams = z.object({
  replayId: z.string(),
  tenantId: z.string(),
  metrics: z.array(z.string()),
  customerRefs: z.array(z.string()),
  start: z.string(),
  end: z.string(),
});

/** Metrics the tenant has counted or mapped: a replay of any other would find nothing. */
export const knownMetrics = defineQuery({ sql: 'replay/known_metrics', params: z.object({ tenantId: z.string() }), row: z.object({ metric: z.string() }) });

export const getReplayRun = defineQuery({ sql: 'replay/get_run', params: z.object({ id: z.string(), tenantId: z.string() }), row: runRow });

/** Runs newest first, after the (beforeSecond, beforeId) keyset cursor (beforeId '': from the newest); '' matches all. */
export const listReplayRuns = defineQuery({
  sql: 'replay/list_runs',
  params: z.object({
    tenantId: z.string(),
    status: z.enum(['', ...replayStatuses]),
    mode: z.enum(['', ...replayModes]),
    beforeSecond: z.number().int(),
    beforeId: z.string(),
    limit: z.number().int().positive(),
  }),
  row: z.object({
    id: z.string(),
    tenantId: z.string(),
    mode: z.enum(replayModes),
    status: z.enum(replayStatuses),
    progress: z.number(),
    metrics: z.array(z.string()),
    customers: chInt,
    since: z.string(),
    until: z.string(),
    summary: z.string(),
    correctionsWritten: chInt,
    error: z.string(),
    createdBy: z.string(),
    startedAt: z.string(),
    finishedAt: z.string(),
  }),
});

export const runningReplayRuns = defineQuery({ sql: 'replay/running_runs', params: z.object({}), row: runRow });

/** Computes the window's hour cells (before and after the replay) into replay_cells under the run's id. */
export const stageCells = defineCommand({ sql: 'replay/stage_cells', params: windowParams });

/** The staged cells, summed per item. */
export const replayItems = defineQuery({ sql: 'replay/items', params: windowParams, row: diffItem });

/** Counter corrections for the staged cells that differ. */
export const writeCorrections = defineCommand({ sql: 'replay/write_corrections', params: windowParams });

/** The window's late events, recorded as counted by this replay. */
export const markReplayed = defineCommand({ sql: 'replay/mark_replayed', params: windowParams });

export const dropCells = defineCommand({ sql: 'replay/drop_cells', params: z.object({ replayId: z.string() }) });

export const insertReplayRun = defineInsert({
  table: 'replay_runs',
  row: runRow.extend({ finishedAt: z.string().nullable(), version: z.string() }),
});
