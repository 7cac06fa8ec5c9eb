import type { Deps } from '../../deps.js';
import { parseBody, parseQuery, principalOf, requireScope, requireTenant, type Ctx } from '../../context.js';
import { HttpError, validationError } from '../../errors.js';
import { newestFirst } from '../../pagination.js';
import { authorizeTenant, listedTenant } from '../../tenant-access.js';
import { ReplayConflictError } from '../../../replay/replay.js';
import { BeforeRetentionError } from '../../../lifecycle/retention.js';
import { resolveWindow } from '../../../replay/window.js';
import { listReplaysQuerySchema, replayIdSchema, replaySchema } from './schema.js';

const iso = (ms: number) => {
  const s = Math.round(ms / 1000);
  return s === 0 ? 'PT0S' : `PT${Math.floor(s / 60) ? `${Math.floor(s / 60)}M` : ''}${s % 60 ? `${s % 60}S` : ''}`;
};

/**
 * POST /v1/replay: recompute the counters of a window from stored events. `dry-run` reports what would change;
 * `apply` writes it. Dry-runs and applies over up to REPLAY_SYNC_MAX answer 200 with the result; longer applies 202
 * with the run id to poll (GET /v1/replay/:id shows progress).
 */
export function startReplay(deps: Deps) {
  return async (ctx: Ctx) => {
    const body = parseBody(ctx, replaySchema);
    await authorizeTenant(deps, ctx, body.tenantId, body.mode === 'apply' ? 'admin' : 'read');
    const window = resolveWindow(body.since, body.until, Date.now());
    if ('error' in window) {
      throw new HttpError(400, 'invalid_request', `invalid body: ${window.field}: ${window.error}`, [{ path: window.field, message: window.error }]);
    }
    if (window.endMs - window.startMs > deps.config.replay.maxWindowMs) {
      throw new HttpError(400, 'invalid_request', `invalid body: since: the window exceeds REPLAY_MAX_WINDOW (${deps.config.replay.maxWindowMs / 86_400_000} days); split it`, [
        { path: 'since', message: 'window too long' },
      ]);
    }
    try {
      await deps.retention.policy.check(window.startMs, 'the window (widened to whole hours)');
    } catch (err) {
      if (!(err instanceof BeforeRetentionError)) throw err;
      const earliest = new Date(Math.ceil(err.horizonMs / 3600_000) * 3600_000).toISOString();
      throw new HttpError(400, 'window_before_retention', `${err.message}. The earliest window a replay can take starts at ${earliest}`, [
        { path: 'since', message: `before ${earliest}` },
      ]);
    }
    const known = await deps.replay.knownMetrics(body.tenantId);
    const unknown = body.metrics.filter((m) => !known.has(m));
    if (unknown.length > 0) {
      throw new HttpError(400, 'unknown_metric', `tenant ${body.tenantId} has no usage or mapping for metric(s): ${unknown.join(', ')}`, [
        { path: 'metrics', message: `unknown: ${unknown.join(', ')}` },
      ]);
    }
    // An apply writes corrections to several tables: it does not start on a volume short of space.
    if (body.mode === 'apply') deps.disk.assertRoom('the replay was not started: free space, then apply again');
    let started;
    try {
      started = await deps.replay.start(body, window, principalOf(ctx).keyId);
    } catch (err) {
      if (err instanceof ReplayConflictError) {
        throw new HttpError(409, 'replay_running', err.message, [{ path: 'tenantId', message: `running: ${err.runningId}` }]);
      }
      throw err;
    }
    const widened = { since: iso(window.widenedMs.since), until: iso(window.widenedMs.until) };
    // A dry-run is one read and answers at once; an apply over a long window runs as a job to poll.
    if (body.mode === 'apply' && window.endMs - window.startMs > deps.config.replay.syncMaxMs) {
      started.done.catch(() => undefined);
      ctx.status = 202;
      ctx.body = { ...started.run, widened, statusUrl: `/v1/replay/${started.run.id}` };
      return;
    }
    const run = await started.done;
    ctx.status = run.status === 'succeeded' ? 200 : 500;
    ctx.body = { ...run, widened };
  };
}

/** GET /v1/replay/:id: status, progress and result of a replay. */
export function getReplay(deps: Deps) {
  return async (ctx: Ctx) => {
    const parsed = replayIdSchema.safeParse(ctx.params);
    if (!parsed.success) throw validationError(parsed.error, 'path');
    const p = requireScope(ctx, 'read');
    const run = await deps.replay.get(p.root ? null : p.tenantId, parsed.data.id);
    if (!run) throw new HttpError(404, 'not_found', `no replay ${parsed.data.id}`);
    requireTenant(ctx, run.tenantId);
    ctx.body = run;
  };
}

/** GET /v1/replay: replay runs, newest first; `nextCursor` pages on. */
export function listReplays(deps: Deps) {
  return async (ctx: Ctx) => {
    const { tenantId, cursor, limit, ...filter } = parseQuery(ctx, listReplaysQuerySchema);
    const tenant = await listedTenant(deps, ctx, tenantId, 'read');
    const rows = await deps.replay.list({ ...filter, tenantId: tenant, before: newestFirst.before(cursor), limit: limit + 1 });
    const p = newestFirst.page(rows, limit, (r) => r.startedAt);
    ctx.body = { runs: p.items, nextCursor: p.nextCursor };
  };
}
