import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { Router, type RouterContext } from '@koa/router';
import type { Logger } from 'pino';
import * as api from './api.js';
import { apiError, invalid, invalidKey, missingKey, rateLimited, SandboxError, unrecognizedUrl } from './errors.js';
import { defaultFaultRoutes, type FaultKind, FaultPlan, type Faults, validateFaults } from './faults.js';
import { type FormObject, FormError, fromJson, parseForm } from './form.js';
import { newId } from './random.js';
import { aggregate, type MeterEvent, platformAccount, SandboxStore } from './state.js';

export type { Faults } from './faults.js';

export type StripeSandboxOptions = {
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  /** JSON-lines journal; without it state lives in memory only. */
  stateFile?: string;
  /** Only this exact key is accepted; default: any key starting sk_test_, sk_live_, rk_test_ or rk_live_. */
  apiKey?: string;
  faults?: Faults;
  /** Routes faults apply to when `faults.routes` is not set (default: `POST /v1/billing/meter_events`). */
  faultRoutes?: string[];
  /** Seed for fault decisions (default: random). */
  seed?: number;
  /** How long a meter event identifier stays deduplicated (Stripe: "at least 24 hours"). Default 24 h. */
  identifierTtlMs?: number;
  /** Events younger than this are not in event summaries yet (Stripe aggregates asynchronously). Default 0. */
  aggregationDelayMs?: number;
  /** Clock in ms, for tests that move time. Default Date.now. */
  now?: () => number;
  logger?: Logger;
};

export type TotalsQuery = {
  /** The connected account (`acct_...`) whose meter this is; default the platform. */
  account?: string;
  meterId?: string;
  eventName?: string;
  customer: string;
  /** Unix seconds, inclusive. */
  start?: number;
  /** Unix seconds, exclusive. */
  end?: number;
};

/** A meter event as the sandbox holds it. */
export type SandboxMeterEvent = MeterEvent;

export type SandboxStats = {
  requests: number;
  routes: Record<string, { requests: number; statuses: Record<string, number> }>;
  faults: Record<FaultKind, number>;
  idempotentReplays: number;
};

export type SandboxCounts = { customers: number; deletedCustomers: number; meters: number; events: number; cancelled: number };

export type StripeSandbox = {
  url: string;
  port: number;
  host: string;
  close(): Promise<void>;
  setFaults(f: Faults): void;
  getFaults(): Faults;
  /** What Stripe would bill: the meter's formula over non-cancelled events of the customer with timestamp in [start, end). */
  totals(q: TotalsQuery): number;
  events(): SandboxMeterEvent[];
  counts(): SandboxCounts;
  stats(): SandboxStats;
};

type State = { requestId: string; route?: string; apiKey?: string };
type Ctx = RouterContext<State> & Koa.ParameterizedContext<State>;

const maxBodyBytes = 1 << 20;
const idempotencyTtlMs = 24 * 3600_000;
const idempotencyMaxKeys = 50_000;
const apiVersion = '2026-10-28.endive';

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBodyBytes) {
        reject(new SandboxError(413, 'invalid_request_error', 'Request body too large'));
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseJson(raw: string): unknown {
  try {
    return raw ? JSON.parse(raw) : {};
  } catch {
    throw invalid('Invalid JSON body', 'body');
  }
}

function bearerKey(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const [scheme, value = ''] = header.trim().split(/\s+/, 2);
  if (scheme?.toLowerCase() === 'bearer') return value || undefined;
  // `curl -u sk_test_...:` sends the key as the Basic user name, which Stripe accepts too.
  if (scheme?.toLowerCase() === 'basic') return Buffer.from(value, 'base64').toString('utf8').split(':')[0] || undefined;
  return undefined;
}

const keyPattern = /^(sk|rk)_(test|live)_\S+$/;
const accountPattern = /^acct_[A-Za-z0-9]{1,64}$/;

/**
 * The `Stripe-Account` header: '' (the platform) when absent. Any well-formed account id is a connected account of
 * the platform here; each sees only the objects created under it.
 */
function accountOf(header: string): string {
  if (!header) return platformAccount;
  if (!accountPattern.test(header)) {
    throw new SandboxError(403, 'permission_error', `The provided key does not have access to account '${header.slice(0, 80)}' (or that account does not exist).`, 'account_invalid');
  }
  return header;
}

export async function startStripeSandbox(opts: StripeSandboxOptions = {}): Promise<StripeSandbox> {
  const host = opts.host ?? '127.0.0.1';
  const now = opts.now ?? Date.now;
  const log = opts.logger;
  const store = new SandboxStore(opts.stateFile);
  const ctxApi: api.ApiContext = {
    store,
    now,
    identifierTtlMs: opts.identifierTtlMs ?? 24 * 3600_000,
    aggregationDelayMs: opts.aggregationDelayMs ?? 0,
  };
  const faults = new FaultPlan(opts.faults, opts.seed ?? Math.floor(Math.random() * 2 ** 32), opts.faultRoutes ?? defaultFaultRoutes);
  const stats: SandboxStats = { requests: 0, routes: {}, faults: faults.injected, idempotentReplays: 0 };
  // Stripe replays a POST's saved result for a repeated Idempotency-Key (stripe-node sends one on every POST and
  // reuses it when it retries). Kept in memory only: a restart forgets keys, as a cache would.
  const idempotency = new Map<string, { fingerprint: string; body: unknown; requestId: string; at: number }>();
  // Held (timed-out) requests, released early on close so close() never waits out a hang.
  const hangs = new Set<() => void>();
  let closing = false;

  const authenticate = (ctx: Ctx): string => {
    const key = bearerKey(ctx.get('authorization'));
    if (!key) throw missingKey();
    const ok = opts.apiKey !== undefined ? key === opts.apiKey : keyPattern.test(key);
    if (!ok) throw invalidKey(key);
    return key;
  };

  const hang = (ctx: Ctx, ms: number) =>
    new Promise<void>((resolve) => {
      const socket = ctx.req.socket;
      if (socket.destroyed || closing) return resolve();
      const done = () => {
        clearTimeout(timer);
        socket.off('close', done);
        hangs.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      socket.once('close', done);
      hangs.add(done);
    });

  const drop = (ctx: Ctx) => {
    ctx.respond = false;
    ctx.req.socket.destroy();
  };

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  /** Wraps a Stripe endpoint: auth, faults, body parsing, Idempotency-Key replay, then the handler. */
  const endpoint = (method: 'GET' | 'POST' | 'DELETE', pattern: string, handler: api.Handler) => {
    const route = `${method} ${pattern}`;
    return async (ctx: Ctx) => {
      ctx.state.route = route;
      const key = authenticate(ctx);
      const account = accountOf(ctx.get('stripe-account'));
      const faulted = faults.applies(route);
      if (faulted) {
        const latency = faults.latencyMs();
        if (latency > 0) await sleep(latency);
        const fault = faults.before();
        if (fault === 'timeout') {
          log?.debug({ route, requestId: ctx.state.requestId }, 'stripe sandbox: holding request (injected timeout)');
          await hang(ctx, faults.hangMs());
          drop(ctx);
          return;
        }
        if (fault === 'error') throw apiError('An unknown error occurred (injected by the Stripe sandbox)');
        if (fault === 'rateLimit') throw rateLimited();
      }

      let form: FormObject;
      let raw = '';
      if (method === 'POST') {
        raw = await readBody(ctx.req);
        form = ctx.is('application/json') ? fromJson(parseJson(raw)) : parseForm(raw);
      } else {
        form = parseForm(ctx.querystring);
      }

      const idemKey = method === 'POST' ? ctx.get('idempotency-key') : '';
      const idemSlot = idemKey ? `${key}\u0000${account}\u0000${idemKey}` : '';
      const fingerprint = `${route}\u0000${ctx.path}\u0000${raw}`;
      const saved = idemSlot ? idempotency.get(idemSlot) : undefined;
      let body: unknown;
      if (saved && now() - saved.at < idempotencyTtlMs) {
        if (saved.fingerprint !== fingerprint) {
          throw new SandboxError(
            400,
            'idempotency_error',
            `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idemKey}' if you meant to execute a different request.`,
          );
        }
        stats.idempotentReplays++;
        ctx.set('idempotent-replayed', 'true');
        ctx.set('original-request', saved.requestId);
        body = saved.body;
      } else {
        body = handler(ctxApi, { form, params: ctx.params, path: ctx.path, account });
        if (idemSlot) {
          idempotency.delete(idemSlot);
          idempotency.set(idemSlot, { fingerprint, body, requestId: ctx.state.requestId, at: now() });
          if (idempotency.size > idempotencyMaxKeys) idempotency.delete(idempotency.keys().next().value!);
        }
      }

      if (faulted && faults.dropAfterCommit()) {
        log?.debug({ route, requestId: ctx.state.requestId }, 'stripe sandbox: dropping the response (injected)');
        drop(ctx);
        return;
      }
      if (idemKey) ctx.set('idempotency-key', idemKey);
      ctx.status = 200;
      ctx.body = body;
    };
  };

  const stripe = new Router<State>();
  const routes: Array<[method: 'GET' | 'POST' | 'DELETE', pattern: string, handler: api.Handler]> = [
    ['POST', '/v1/customers', api.createCustomer],
    ['GET', '/v1/customers', api.listCustomers],
    ['GET', '/v1/customers/:id', api.retrieveCustomer],
    ['POST', '/v1/customers/:id', api.updateCustomer],
    ['DELETE', '/v1/customers/:id', api.deleteCustomer],
    ['POST', '/v1/billing/meters', api.createMeter],
    ['GET', '/v1/billing/meters', api.listMeters],
    ['GET', '/v1/billing/meters/:id', api.retrieveMeter],
    ['POST', '/v1/billing/meters/:id', api.updateMeter],
    ['POST', '/v1/billing/meters/:id/deactivate', api.setMeterStatus('inactive')],
    ['POST', '/v1/billing/meters/:id/reactivate', api.setMeterStatus('active')],
    ['GET', '/v1/billing/meters/:id/event_summaries', api.listEventSummaries],
    ['POST', '/v1/billing/meter_events', api.createMeterEvent],
    ['POST', '/v1/billing/meter_event_adjustments', api.createMeterEventAdjustment],
  ];
  for (const [method, pattern, handler] of routes) {
    const mw = endpoint(method, pattern, handler);
    if (method === 'GET') stripe.get(pattern, mw);
    else if (method === 'POST') stripe.post(pattern, mw);
    else stripe.delete(pattern, mw);
  }

  // Test and operator controls: no Stripe auth, never faulted.
  const control = new Router<State>();
  control.get('/_sandbox/state', (ctx) => {
    ctx.state.route = 'GET /_sandbox/state';
    ctx.body = { ...store.counts(), faults: faults.get() };
  });
  control.get('/_sandbox/faults', (ctx) => {
    ctx.state.route = 'GET /_sandbox/faults';
    ctx.body = faults.get();
  });
  control.get('/_sandbox/stats', (ctx) => {
    ctx.state.route = 'GET /_sandbox/stats';
    ctx.body = stats;
  });
  control.post('/_sandbox/faults', async (ctx) => {
    ctx.state.route = 'POST /_sandbox/faults';
    const raw = await readBody(ctx.req);
    let next: Faults;
    try {
      next = validateFaults(parseJson(raw));
    } catch (err) {
      throw invalid(`Invalid faults: ${(err as Error).message}`, 'faults');
    }
    faults.set(next);
    log?.info({ faults: faults.get() }, 'stripe sandbox: faults changed');
    ctx.body = faults.get();
  });

  const app = new Koa<State>({ proxy: false });
  app.silent = true;
  app.use(async (ctx, next) => {
    const started = Date.now();
    ctx.state.requestId = newId('req', 14);
    ctx.set('request-id', ctx.state.requestId);
    ctx.set('stripe-version', ctx.get('stripe-version') || apiVersion);
    try {
      await next();
      if (ctx.respond !== false && ctx.body === undefined && ctx.status === 404) throw unrecognizedUrl(ctx.method, ctx.path);
    } catch (err) {
      let e: SandboxError;
      if (err instanceof SandboxError) e = err;
      else if (err instanceof FormError) e = invalid(err.message, err.param);
      else {
        log?.error({ err, route: ctx.state.route }, 'stripe sandbox: handler failed');
        e = apiError();
      }
      ctx.status = e.status;
      for (const [k, v] of Object.entries(e.headers)) ctx.set(k, v);
      ctx.body = e.body();
    } finally {
      const route = ctx.state.route ?? 'unmatched';
      const status = ctx.respond === false ? 'dropped' : String(ctx.status);
      stats.requests++;
      const r = (stats.routes[route] ??= { requests: 0, statuses: {} });
      r.requests++;
      r.statuses[status] = (r.statuses[status] ?? 0) + 1;
      log?.debug({ requestId: ctx.state.requestId, method: ctx.method, route, status, ms: Date.now() - started }, 'stripe sandbox request');
    }
  });
  app.use(control.routes());
  app.use(stripe.routes());

  const server = http.createServer(app.callback());
  // Longer than client pools keep idle sockets, so a reused socket is rarely closed under a request.
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log?.info({ url, stateFile: opts.stateFile ?? null, ...store.counts() }, 'stripe sandbox listening');

  const resolveMeter = (q: TotalsQuery) => {
    const account = q.account ?? platformAccount;
    const m = q.meterId ? store.meter(account, q.meterId) : q.eventName ? store.meterForEventName(account, q.eventName) : undefined;
    if (!m) throw new Error(`stripe sandbox: no meter ${q.meterId ?? q.eventName ?? '(none given)'}`);
    return m;
  };

  return {
    url,
    port,
    host,
    async close() {
      if (closing) return;
      closing = true;
      for (const release of [...hangs]) release();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      store.close();
    },
    setFaults(f: Faults) {
      faults.set(f);
    },
    getFaults: () => faults.get(),
    totals(q: TotalsQuery) {
      const m = resolveMeter(q);
      const start = q.start ?? -Infinity;
      const end = q.end ?? Infinity;
      const evs = store.seriesOf(m.id, q.customer).filter((e) => !e.cancelled && e.timestamp >= start && e.timestamp < end);
      return aggregate(m.formula, evs);
    },
    events: () => store.events().map((e) => ({ ...e, payload: { ...e.payload } })),
    counts: () => store.counts(),
    stats: () => structuredClone(stats),
  };
}
