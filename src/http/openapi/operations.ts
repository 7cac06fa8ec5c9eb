import { z } from 'zod';
import { eventSchema } from '../../ingest/event.js';
import { idempotencyExempt } from '../middleware/idempotency.js';
import * as adjustments from '../routes/adjustments/schema.js';
import * as admin from '../routes/admin/schema.js';
import * as customers from '../routes/customers/schema.js';
import * as docs from '../routes/docs/schema.js';
import * as events from '../routes/events/schema.js';
import * as health from '../routes/health/schema.js';
import * as mappings from '../routes/mappings/schema.js';
import * as meters from '../routes/meters/schema.js';
import * as push from '../routes/push/schema.js';
import * as reconciliation from '../routes/reconciliation/schema.js';
import * as replay from '../routes/replay/schema.js';
import * as backups from '../routes/backups/schema.js';
import * as sql from '../routes/sql/schema.js';
import * as usage from '../routes/usage/schema.js';

/** Who may call: no key, a key with the scope, or the service admin key only. */
export type Access = 'public' | 'ingest' | 'read' | 'admin' | 'root' | 'sql';

export type Response = {
  description: string;
  /** application/json unless `content` says otherwise; an `errorToo` response may also be the error shape. */
  schema?: z.ZodType;
  content?: Record<string, z.ZodType | null>;
  errorToo?: boolean;
};

/**
 * One HTTP operation, in the router's path syntax (`/v1/replay/:id`). Schemas are the ones the handlers parse with;
 * `errors` lists the error codes per status beyond the ones every operation of its access shares.
 */
export type Operation = {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  path: string;
  tag: string;
  summary: string;
  description?: string;
  access: Access;
  query?: z.ZodType;
  params?: z.ZodType;
  body?: z.ZodType;
  /** Other media types the body may be sent as, beside application/json. */
  otherBodies?: Record<string, z.ZodType>;
  responses: Record<number, Response>;
  errors?: Record<number, string[]>;
};

/** POSTs that take an `Idempotency-Key` header: every one the idempotency middleware does not exempt. */
export const takesIdempotencyKey = (op: Pick<Operation, 'method' | 'path'>) => op.method === 'post' && !idempotencyExempt.has(op.path);

/** The ingest body as each event is checked: the envelope's `events` items are events. */
const ingestRequestSchema = z.strictObject({
  events: z.array(eventSchema).min(1).max(events.maxBatchEvents),
});

/** A CloudEvent as ingest maps it (see README): `id`, `type`, `subject`, `time`, `source`, and `data`. */
const cloudEventSchema = z
  .object({
    specversion: z.literal('1.0'),
    id: z.string(),
    type: z.string().describe('the metric'),
    subject: z.string().describe('the customerRef'),
    source: z.string(),
    time: z.string().optional().describe('the event time (ts)'),
    data: z.record(z.string(), z.unknown()).optional().describe('tenantId, quantity or value, other strings as meta'),
  })
  .describe('a CloudEvent 1.0 in structured JSON');

const tenantErrors = { 404: ['unknown_tenant'] };
const meterLookupErrors = {
  400: ['invalid_request', 'meter_not_found', 'meter_inactive', 'meter_mismatch', 'meter_formula_unsupported', 'meter_formula_mismatch'],
  502: ['stripe_unavailable'],
};
const customerLookupErrors = { 400: ['invalid_request', 'customer_not_found', 'customer_deleted'], 502: ['stripe_unavailable'] };

export const operations: Operation[] = [
  // Without a key.
  { method: 'get', path: '/health/live', tag: 'operations', summary: 'Liveness probe', access: 'public', responses: { 200: { description: 'the process serves', schema: health.liveSchema } } },
  {
    method: 'get', path: '/health/ready', tag: 'operations', summary: 'Readiness probe', access: 'public',
    responses: { 200: { description: 'healthy or degraded (still serving)', schema: health.readinessSchema }, 503: { description: 'unhealthy', schema: health.readinessSchema } },
  },
  {
    method: 'get', path: '/metrics', tag: 'operations', summary: 'Prometheus metrics', access: 'public',
    description: 'Behind `Authorization: Bearer <METRICS_TOKEN>` when METRICS_TOKEN is set.',
    responses: { 200: { description: 'Prometheus text exposition', content: { 'text/plain': null } } },
    errors: { 401: ['unauthorized'] },
  },
  {
    method: 'get', path: '/openapi.json', tag: 'reference', summary: 'This API description (OpenAPI 3.1)', access: 'public',
    responses: { 200: { description: 'the OpenAPI document', content: { 'application/json': z.looseObject({ openapi: z.string() }) } } },
  },
  { method: 'get', path: '/docs', tag: 'reference', summary: 'API reference page', access: 'public', responses: { 200: { description: 'HTML page', content: { 'text/html': null } } } },
  {
    method: 'get', path: '/docs/assets/:file', tag: 'reference', summary: "A static file of the reference page", access: 'public', params: docs.docsAssetPathSchema,
    responses: { 200: { description: 'the file', content: { 'text/css': null, 'application/javascript': null } } },
    errors: { 404: ['not_found'] },
  },

  // Events and usage.
  {
    method: 'post', path: '/v1/events/ingest', tag: 'events', summary: 'Ingest a batch of usage events', access: 'ingest', body: ingestRequestSchema,
    otherBodies: {
      'application/cloudevents-batch+json': z.array(cloudEventSchema).min(1).max(events.maxBatchEvents),
      'application/cloudevents+json': cloudEventSchema,
    },
    description:
      'Up to 10,000 events and 5 MB per request (counted after inflating a gzip or deflate Content-Encoding); also as CloudEvents. Each event is checked on its own: bad ones are rejected by index with a reason, the rest are stored. ' +
      'An event sent again with the same idempotencyKey (or, without one, the same content) is a duplicate and counts once. ' +
      'While free space on the data volume is below the floor the service keeps, the whole request is refused with 507 before anything is stored: retry after Retry-After with the same keys.',
    responses: { 200: { description: 'per-event results', schema: events.ingestResponseSchema } },
    errors: { ...tenantErrors, 422: ['data_refused'], 429: ['ingest_overloaded'], 507: ['insufficient_storage'] },
  },
  {
    method: 'get', path: '/v1/events', tag: 'events', summary: 'List stored events (debugging)', access: 'read', query: events.eventsQuerySchema,
    responses: { 200: { description: 'events oldest first; nextCursor pages on', schema: events.eventsListSchema } },
    errors: tenantErrors,
  },
  {
    method: 'get', path: '/v1/usage', tag: 'usage', summary: "A metric's usage in a billing period, per customer", access: 'read', query: usage.usageQuerySchema,
    responses: { 200: { description: 'totals as exact decimals', schema: usage.usageSchema } },
    errors: tenantErrors,
  },
  {
    method: 'get', path: '/v1/usage/history', tag: 'usage', summary: 'Usage per hour or day', access: 'read', query: usage.historyQuerySchema,
    responses: { 200: { description: 'buckets over [since, until)', schema: usage.historySchema } },
    errors: { ...tenantErrors, 400: ['invalid_request', 'aggregation_not_additive'] },
  },
  {
    method: 'get', path: '/v1/usage/query', tag: 'usage', summary: 'Usage per window, grouped by customer and dimensions', access: 'read', query: usage.groupedQuerySchema,
    description: 'Also takes `filter.<dimension>=<value>` parameters (one value each, at most 1024 characters) for the dimensions of the metric\'s meter.',
    responses: { 200: { description: 'one row per window and group', schema: usage.groupedUsageSchema } },
    errors: { ...tenantErrors, 400: ['invalid_request', 'unknown_dimension', 'window_misaligned', 'too_many_windows', 'too_many_rows', 'window_before_retention'] },
  },

  // Tenants and keys.
  {
    method: 'post', path: '/v1/admin/tenants', tag: 'admin', summary: 'Create a tenant', access: 'root', body: admin.createTenantSchema,
    responses: { 201: { description: 'created', schema: admin.createdTenantSchema }, 200: { description: 'existed already with the same settings', schema: admin.createdTenantSchema } },
    errors: { 409: ['tenant_exists'] },
  },
  { method: 'get', path: '/v1/admin/tenants', tag: 'admin', summary: 'List tenants', access: 'root', query: admin.listTenantsQuerySchema, responses: { 200: { description: 'every tenant', schema: admin.tenantListSchema } } },
  {
    method: 'patch', path: '/v1/admin/tenants/:id', tag: 'admin', summary: "Set or clear a tenant's Stripe connected account", access: 'root', params: admin.tenantPathSchema, body: admin.updateTenantSchema,
    responses: { 200: { description: 'the tenant', schema: admin.tenantSchema } },
    errors: { ...tenantErrors, 409: ['tenant_has_bindings'] },
  },
  {
    method: 'post', path: '/v1/admin/backups', tag: 'admin', summary: 'Back up every table, online', access: 'root', body: backups.startBackupSchema,
    description:
      'Freezes every table at one point (writes wait a few milliseconds), then copies the parts not already in the directory. Embedded engine only; restore with `stripemeter restore DIR` while the service is stopped.',
    responses: { 202: { description: 'started; poll statusUrl', schema: backups.startedBackupSchema } },
    errors: { 400: ['invalid_backup_dir'], 409: ['backup_running'], 501: ['backup_unsupported'] },
  },
  {
    method: 'get', path: '/v1/admin/backups', tag: 'admin', summary: 'The backups this process ran, newest first', access: 'root', query: backups.listBackupsQuerySchema,
    description: 'The last 20, kept in memory; a backup directory\'s snapshots/ lists every complete backup in it.',
    responses: { 200: { description: 'backups; nextCursor pages on', schema: backups.backupListSchema } },
    errors: { 501: ['backup_unsupported'] },
  },
  {
    method: 'get', path: '/v1/admin/backups/:id', tag: 'admin', summary: 'Progress and result of a backup', access: 'root', params: backups.backupIdSchema,
    responses: { 200: { description: 'the backup', schema: backups.backupJobSchema } },
    errors: { 404: ['not_found'], 501: ['backup_unsupported'] },
  },
  {
    method: 'post', path: '/v1/admin/api-keys', tag: 'admin', summary: 'Create an API key', access: 'admin', body: admin.createKeySchema,
    description: 'The secret is in this response only. Without tenantId: a cross-tenant analyst key (scope sql), by the service admin key only.',
    responses: { 201: { description: 'created', schema: admin.createdKeySchema } },
    errors: tenantErrors,
  },
  {
    method: 'get', path: '/v1/admin/api-keys', tag: 'admin', summary: 'List API keys (never their secrets)', access: 'admin', query: admin.listKeysQuerySchema,
    responses: { 200: { description: 'the keys', schema: admin.apiKeyListSchema } },
  },
  {
    method: 'post', path: '/v1/admin/api-keys/:id/revoke', tag: 'admin', summary: 'Revoke an API key', access: 'admin', params: admin.keyPathSchema,
    responses: { 200: { description: 'the revoked key', schema: admin.apiKeySchema } },
    errors: { 404: ['not_found'] },
  },
  {
    method: 'delete', path: '/v1/admin/api-keys/:id', tag: 'admin', summary: 'Revoke an API key', access: 'admin', params: admin.keyPathSchema,
    responses: { 200: { description: 'the revoked key', schema: admin.apiKeySchema } },
    errors: { 404: ['not_found'] },
  },
  {
    method: 'post', path: '/v1/admin/retention/run', tag: 'admin', summary: 'Drop raw events older than RAW_EVENT_RETENTION now', access: 'root',
    description:
      'Runs the retention job now (it also runs every RETENTION_INTERVAL in the workers process): records the new cutoff, drops whole months of raw events before it and deletes the rest of the month it falls in. ' +
      'Counters, meter states, the dedupe keys, adjustments, push and reconciliation history are kept. A second run finds nothing more to drop.',
    responses: { 200: { description: 'what the run did', schema: admin.retentionRunSchema } },
    errors: { 409: ['retention_off', 'workers_elsewhere'] },
  },

  // Stripe bindings and meters.
  {
    method: 'post', path: '/v1/mappings', tag: 'mappings', summary: 'Bind a metric to a Stripe meter', access: 'admin', body: mappings.createMappingSchema,
    responses: { 201: { description: 'created', schema: mappings.mappingSchema } },
    errors: { ...tenantErrors, ...meterLookupErrors, 409: ['mapping_exists'] },
  },
  {
    method: 'get', path: '/v1/mappings', tag: 'mappings', summary: "List a tenant's mappings", access: 'read', query: mappings.listMappingsQuerySchema,
    responses: { 200: { description: 'the mappings', schema: mappings.mappingListSchema } },
    errors: tenantErrors,
  },
  {
    method: 'get', path: '/v1/mappings/:tenantId/:metric', tag: 'mappings', summary: 'Get a mapping', access: 'read', params: mappings.mappingPathSchema,
    responses: { 200: { description: 'the mapping', schema: mappings.mappingSchema } },
    errors: { 404: ['unknown_tenant', 'not_found'] },
  },
  {
    method: 'put', path: '/v1/mappings/:tenantId/:metric', tag: 'mappings', summary: 'Re-point or (de)activate a mapping', access: 'admin', params: mappings.mappingPathSchema, body: mappings.updateMappingSchema,
    responses: { 200: { description: 'the mapping', schema: mappings.mappingSchema } },
    errors: { ...meterLookupErrors, 404: ['unknown_tenant', 'not_found'] },
  },
  {
    method: 'delete', path: '/v1/mappings/:tenantId/:metric', tag: 'mappings', summary: 'Delete a mapping (its usage becomes unmapped)', access: 'admin', params: mappings.mappingPathSchema,
    responses: { 200: { description: 'the deleted mapping', schema: mappings.deletedMappingSchema } },
    errors: { 404: ['unknown_tenant', 'not_found'] },
  },
  {
    method: 'post', path: '/v1/meters', tag: 'meters', summary: 'Define how a metric aggregates', access: 'admin', body: meters.createMeterSchema,
    responses: { 201: { description: 'created', schema: meters.meterSchema } },
    errors: { ...tenantErrors, 409: ['meter_exists', 'meter_has_events'] },
  },
  {
    method: 'get', path: '/v1/meters', tag: 'meters', summary: "List a tenant's meter definitions", access: 'read', query: meters.listMetersQuerySchema,
    responses: { 200: { description: 'the meters', schema: meters.meterListSchema } },
    errors: tenantErrors,
  },
  {
    method: 'get', path: '/v1/meters/:tenantId/:metric', tag: 'meters', summary: 'Get a meter definition', access: 'read', params: meters.meterPathSchema,
    responses: { 200: { description: 'the meter', schema: meters.meterSchema } },
    errors: { 404: ['unknown_tenant', 'not_found'] },
  },
  {
    method: 'put', path: '/v1/meters/:tenantId/:metric', tag: 'meters', summary: 'Replace a meter definition (before its first event)', access: 'admin', params: meters.meterPathSchema, body: meters.updateMeterSchema,
    responses: { 200: { description: 'the meter', schema: meters.meterSchema } },
    errors: { 404: ['unknown_tenant', 'not_found'], 409: ['meter_has_events'] },
  },
  {
    method: 'delete', path: '/v1/meters/:tenantId/:metric', tag: 'meters', summary: 'Delete a meter definition (before its first event)', access: 'admin', params: meters.meterPathSchema,
    responses: { 204: { description: 'deleted; the metric is a plain sum again' } },
    errors: { 404: ['unknown_tenant', 'not_found'], 409: ['meter_has_events'] },
  },
  {
    method: 'post', path: '/v1/customers', tag: 'customers', summary: 'Bind a customerRef to a Stripe customer', access: 'admin', body: customers.putCustomerSchema,
    responses: { 201: { description: 'bound', schema: customers.customerSchema }, 200: { description: 're-bound', schema: customers.customerSchema } },
    errors: { ...tenantErrors, ...customerLookupErrors, 409: ['stripe_customer_taken', 'stripe_customer_bound'] },
  },
  {
    method: 'get', path: '/v1/customers', tag: 'customers', summary: "List a tenant's customer bindings", access: 'read', query: customers.listCustomersQuerySchema,
    responses: { 200: { description: 'the bindings', schema: customers.customerListSchema } },
    errors: tenantErrors,
  },

  // Billing: push, replay, adjustments, reconciliation.
  {
    method: 'get', path: '/v1/push/status', tag: 'push', summary: "The tenant's push state per item", access: 'read', query: push.pushStatusQuerySchema,
    responses: { 200: { description: 'local and pushed totals per item', schema: push.pushStatusSchema } },
    errors: tenantErrors,
  },
  {
    method: 'post', path: '/v1/push/run', tag: 'push', summary: 'Run a push cycle for the tenant now', access: 'admin', body: push.pushRunSchema,
    responses: { 200: { description: "the cycle's result", schema: push.pushCycleSchema } },
    errors: { ...tenantErrors, 409: ['workers_elsewhere'] },
  },
  {
    method: 'post', path: '/v1/replay', tag: 'replay', summary: 'Recompute counters of a window from stored events', access: 'read', body: replay.replaySchema,
    description:
      '`dry-run` (scope read) reports what would change; `apply` (scope admin) writes it. A long apply answers 202 with the run to poll. ' +
      'An apply is refused with 507 while free space on the data volume is below the floor the service keeps. ' +
      'A window starting before the oldest raw events still held (RAW_EVENT_RETENTION) is refused with 400 `window_before_retention`.',
    responses: {
      200: { description: 'finished', schema: replay.startedReplaySchema },
      202: { description: 'started; poll statusUrl', schema: replay.startedReplaySchema },
      500: { description: 'the run failed (or an internal error)', schema: replay.startedReplaySchema, errorToo: true },
    },
    errors: { ...tenantErrors, 400: ['invalid_request', 'unknown_metric', 'window_before_retention'], 409: ['replay_running'], 507: ['insufficient_storage'] },
  },
  {
    method: 'get', path: '/v1/replay', tag: 'replay', summary: 'List replay runs', access: 'read', query: replay.listReplaysQuerySchema,
    description: "A tenant's runs (without tenantId: the key's tenant; every tenant's for the service admin key). Each with its summary; the items are at GET /v1/replay/{id}.",
    responses: { 200: { description: 'newest first; nextCursor pages on', schema: replay.replayRunListSchema } },
    errors: tenantErrors,
  },
  {
    method: 'get', path: '/v1/replay/:id', tag: 'replay', summary: 'Status, progress and result of a replay', access: 'read', params: replay.replayIdSchema,
    responses: { 200: { description: 'the run', schema: replay.replayRunSchema } },
    errors: { 404: ['not_found'] },
  },
  {
    method: 'post', path: '/v1/adjustments', tag: 'adjustments', summary: 'Record a pending adjustment', access: 'admin', body: adjustments.createAdjustmentSchema,
    responses: { 201: { description: 'created (pending)', schema: adjustments.adjustmentSchema } },
    errors: { ...tenantErrors, 400: ['invalid_request', 'aggregation_not_adjustable'] },
  },
  {
    method: 'get', path: '/v1/adjustments', tag: 'adjustments', summary: 'List adjustments', access: 'read', query: adjustments.listAdjustmentsQuerySchema,
    responses: { 200: { description: 'newest first; nextCursor pages on', schema: adjustments.adjustmentListSchema } },
    errors: tenantErrors,
  },
  {
    method: 'get', path: '/v1/adjustments/:id', tag: 'adjustments', summary: 'Get an adjustment', access: 'read', params: adjustments.adjustmentIdSchema,
    responses: { 200: { description: 'the adjustment', schema: adjustments.adjustmentSchema } },
    errors: { 404: ['not_found'] },
  },
  {
    method: 'post', path: '/v1/adjustments/:id/approve', tag: 'adjustments', summary: 'Approve an adjustment (it counts from then on)', access: 'admin', params: adjustments.adjustmentIdSchema,
    responses: { 200: { description: 'the approved adjustment', schema: adjustments.adjustmentSchema } },
    errors: { 404: ['not_found'], 409: ['invalid_state', 'push_in_flight'] },
  },
  {
    method: 'post', path: '/v1/adjustments/:id/revert', tag: 'adjustments', summary: 'Revert an approved adjustment', access: 'admin', params: adjustments.adjustmentIdSchema,
    responses: { 200: { description: 'the reverted adjustment and its opposite', schema: adjustments.revertedAdjustmentSchema } },
    errors: { 404: ['not_found'], 409: ['invalid_state', 'push_in_flight'] },
  },
  {
    method: 'get', path: '/v1/reconciliation/summary', tag: 'reconciliation', summary: 'Local totals against Stripe per item', access: 'read', query: reconciliation.summaryQuerySchema,
    responses: { 200: { description: 'per item, with status under the drift policy', schema: reconciliation.reconSummarySchema } },
    errors: tenantErrors,
  },
  {
    method: 'post', path: '/v1/reconciliation/run', tag: 'reconciliation', summary: 'Run a reconciliation now', access: 'admin', body: reconciliation.runSchema,
    responses: {
      200: { description: 'the run, succeeded', schema: reconciliation.reconRunSchema },
      502: { description: 'the run failed (Stripe could not be read)', schema: reconciliation.reconRunSchema, errorToo: true },
    },
    errors: tenantErrors,
  },
  {
    method: 'get', path: '/v1/reconciliation/runs', tag: 'reconciliation', summary: 'List reconciliation runs', access: 'read', query: reconciliation.listRunsQuerySchema,
    description: "Scheduled, API and summary runs (without tenantId: the key's tenant; every tenant's for the service admin key), with their counts per status; the items are at GET /v1/reconciliation/runs/{id}.",
    responses: { 200: { description: 'newest first; nextCursor pages on', schema: reconciliation.reconRunListSchema } },
    errors: tenantErrors,
  },
  {
    method: 'get', path: '/v1/reconciliation/runs/:id', tag: 'reconciliation', summary: 'Get a reconciliation run', access: 'read', params: reconciliation.runIdSchema,
    responses: { 200: { description: 'the run', schema: reconciliation.reconRunSchema } },
    errors: { 404: ['not_found'] },
  },

  // Analysts.
  {
    method: 'post', path: '/v1/sql', tag: 'sql', summary: 'Read-only SQL over every tenant (analyst keys)', access: 'sql', body: sql.sqlBodySchema,
    responses: {
      200: { description: 'the result, in the format asked for', content: { 'application/json': sql.sqlJsonResultSchema, 'text/csv': null, 'text/tab-separated-values': null } },
    },
    errors: { 400: ['invalid_request', 'sql_refused', 'sql_error', 'sql_limit'], 429: ['sql_busy'] },
  },
];
