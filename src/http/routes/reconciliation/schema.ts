import { z } from 'zod';
import { metricSchema, tenantIdSchema } from '../../../ingest/event.js';
import { periodSchema } from '../../../time/range.js';
import { reconRunStatuses, reconTriggers } from '../../../storage/queries/reconcile.js';
import { nextCursorSchema, pageQuery } from '../../pagination.js';

export const summaryQuerySchema = z.strictObject({
  tenantId: tenantIdSchema,
  metric: metricSchema.optional(),
  period: periodSchema.optional(),
});

export const runSchema = z.strictObject({ tenantId: tenantIdSchema, metric: metricSchema.optional() });

export const listRunsQuerySchema = z.strictObject({
  tenantId: tenantIdSchema.optional().describe("default: the key's tenant; every tenant's for the service admin key"),
  status: z.enum(reconRunStatuses).optional(),
  trigger: z.enum(reconTriggers).optional(),
  ...pageQuery,
});

export const runIdSchema = z.strictObject({ id: z.string().regex(/^rec_[0-9a-f]{16}$/, 'not a reconciliation run id') });

// Responses, described for the OpenAPI spec.
export const reconRunSchema = z.looseObject({
  id: z.string(),
  tenantId: z.string(),
  metric: z.string().nullable(),
  status: z.enum(reconRunStatuses),
  periods: z.array(z.string()),
  items: z.array(z.looseObject({ metric: z.string(), customerRef: z.string(), period: z.string(), status: z.string() })),
});
export const reconSummarySchema = z.looseObject({
  tenantId: z.string(),
  metric: z.string().nullable(),
  runId: z.string(),
  withinEpsilon: z.boolean(),
  counts: z.record(z.string(), z.number().int()),
  items: z.array(z.looseObject({ metric: z.string(), customerRef: z.string(), period: z.string(), status: z.string() })),
});
export const reconRunListSchema = z.strictObject({
  runs: z.array(
    z.strictObject({
      id: z.string(),
      tenantId: z.string(),
      metric: z.string().nullable().describe('null: every mapped metric'),
      trigger: z.enum(reconTriggers),
      status: z.enum(reconRunStatuses),
      periods: z.array(z.string()),
      itemCount: z.number().int().describe('items compared; they are at GET /v1/reconciliation/runs/{id}'),
      counts: z.record(z.string(), z.number().int()).describe('items per status'),
      error: z.string().nullable(),
      startedAt: z.string(),
      finishedAt: z.string().nullable(),
    }),
  ),
  nextCursor: nextCursorSchema,
});
