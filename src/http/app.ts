import Koa from 'koa';
import { Router } from '@koa/router';
import type { Deps } from './deps.js';
import type { State } from './context.js';
import { accessLog } from './middleware/access-log.js';
import { authenticate } from './middleware/auth.js';
import { errors } from './middleware/errors.js';
import { idempotentPosts } from './middleware/idempotency.js';
import { jsonBody } from './middleware/json-body.js';
import { httpMetrics } from './middleware/metrics.js';
import { requireMetricsToken } from './middleware/metrics-token.js';
import { requestId } from './middleware/request-id.js';
import { createApiKey, createTenant, listApiKeys, listTenants, revokeApiKey, updateTenant } from './routes/admin/handlers.js';
import { ingestEvents } from './routes/events/ingest.js';
import { listEvents } from './routes/events/list.js';
import { maxBodyBytes } from './routes/events/schema.js';
import { cloudEventMediaType, cloudEventsBatchMediaType } from '../ingest/cloudevents.js';
import { live, metrics, ready } from './routes/health/handlers.js';
import { docsAsset, docsPage, openapiJson } from './routes/docs/handlers.js';
import { getHistory, getUsage } from './routes/usage/handlers.js';
import { queryUsage } from './routes/usage/query.js';
import { createMapping, deleteMapping, getMapping, listMappings, updateMapping } from './routes/mappings/handlers.js';
import { createMeter, deleteMeter, getMeter, listMeters, updateMeter } from './routes/meters/handlers.js';
import { listCustomers, putCustomer } from './routes/customers/handlers.js';
import { pushRun, pushStatus } from './routes/push/handlers.js';
import { getReplay, startReplay } from './routes/replay/handlers.js';
import { getBackup, startBackup } from './routes/backups/handlers.js';
import { getRun, runNow, summary } from './routes/reconciliation/handlers.js';
import { approveAdjustment, createAdjustment, getAdjustment, listAdjustments, revertAdjustment } from './routes/adjustments/handlers.js';
import { runSql } from './routes/sql/handlers.js';

export function createApp(deps: Deps): Koa<State> {
  const app = new Koa<State>({ proxy: false });
  app.silent = true;

  // Without an API key: probes, the API description, and Prometheus scrapes (behind METRICS_TOKEN when set: labels name tenants and customers).
  const open = new Router<State>();
  open.get('/health/live', live());
  open.get('/health/ready', ready(deps));
  open.get('/metrics', requireMetricsToken(deps.config.metricsToken), metrics(deps));
  // The API's description and its reference page: public like the API's shape, and served offline.
  open.get('/openapi.json', openapiJson());
  open.get('/docs', docsPage());
  open.get('/docs/assets/:file', docsAsset());

  const api = new Router<State>();
  api.use(authenticate(deps.keys));
  // After authentication: an anonymous caller gets its 401 without the service reading (up to 5 MB of) its body.
  api.use(jsonBody(maxBodyBytes, { '/v1/events/ingest': [cloudEventMediaType, cloudEventsBatchMediaType] }));
  api.use(idempotentPosts(deps.storage.api));
  api.post('/v1/events/ingest', ingestEvents(deps));
  api.get('/v1/events', listEvents(deps));
  api.get('/v1/usage', getUsage(deps));
  api.get('/v1/usage/history', getHistory(deps));
  api.get('/v1/usage/query', queryUsage(deps));
  api.post('/v1/admin/tenants', createTenant(deps));
  api.get('/v1/admin/tenants', listTenants(deps));
  api.patch('/v1/admin/tenants/:id', updateTenant(deps));
  api.post('/v1/admin/api-keys', createApiKey(deps));
  api.get('/v1/admin/api-keys', listApiKeys(deps));
  api.post('/v1/admin/api-keys/:id/revoke', revokeApiKey(deps));
  api.delete('/v1/admin/api-keys/:id', revokeApiKey(deps));
  api.post('/v1/mappings', createMapping(deps));
  api.get('/v1/mappings', listMappings(deps));
  api.get('/v1/mappings/:tenantId/:metric', getMapping(deps));
  api.put('/v1/mappings/:tenantId/:metric', updateMapping(deps));
  api.delete('/v1/mappings/:tenantId/:metric', deleteMapping(deps));
  api.post('/v1/meters', createMeter(deps));
  api.get('/v1/meters', listMeters(deps));
  api.get('/v1/meters/:tenantId/:metric', getMeter(deps));
  api.put('/v1/meters/:tenantId/:metric', updateMeter(deps));
  api.delete('/v1/meters/:tenantId/:metric', deleteMeter(deps));
  api.post('/v1/customers', putCustomer(deps));
  api.get('/v1/customers', listCustomers(deps));
  api.get('/v1/push/status', pushStatus(deps));
  api.post('/v1/push/run', pushRun(deps));
  api.post('/v1/replay', startReplay(deps));
  api.post('/v1/admin/backups', startBackup(deps));
  api.get('/v1/admin/backups/:id', getBackup(deps));
  api.get('/v1/replay/:id', getReplay(deps));
  api.post('/v1/adjustments', createAdjustment(deps));
  api.get('/v1/adjustments', listAdjustments(deps));
  api.get('/v1/adjustments/:id', getAdjustment(deps));
  api.post('/v1/adjustments/:id/approve', approveAdjustment(deps));
  api.post('/v1/adjustments/:id/revert', revertAdjustment(deps));
  api.get('/v1/reconciliation/summary', summary(deps));
  api.post('/v1/reconciliation/run', runNow(deps));
  api.get('/v1/reconciliation/runs/:id', getRun(deps));
  api.post('/v1/sql', runSql(deps));

  app.use(requestId(deps.log));
  app.use(accessLog());
  app.use(httpMetrics(deps.metrics));
  app.use(errors());
  app.use(open.routes());
  app.use(api.routes());
  app.use(api.allowedMethods({ throw: false }));
  return app;
}
