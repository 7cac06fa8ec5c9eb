import { seededRandom } from './random.js';

/** What the sandbox does wrong on purpose. Rates are probabilities per request (0..1). */
export type Faults = {
  /** 500 api_error, nothing committed. */
  errorRate?: number;
  /** 429 rate_limit with `Retry-After: 1`, nothing committed. */
  rateLimitRate?: number;
  /** Added before every faulted route's request is handled. */
  latencyMs?: number;
  /** Hold the request `hangMs` without answering, then drop the connection; nothing committed. */
  timeoutRate?: number;
  /** How long a timed-out request is held (default 30 s). */
  hangMs?: number;
  /** Commit, then drop the connection without answering: the client cannot know it landed. */
  dropAfterCommitRate?: number;
  /**
   * Routes the faults apply to, as `METHOD /path/pattern` (e.g. `POST /v1/billing/meter_events`,
   * `GET /v1/billing/meters/:id/event_summaries`), or `*` for every Stripe route. Default: the `faultRoutes` option.
   */
  routes?: string[];
};

export type FaultKind = 'error' | 'rateLimit' | 'timeout' | 'dropAfterCommit' | 'latency';

export const defaultFaultRoutes = ['POST /v1/billing/meter_events'];
export const defaultHangMs = 30_000;

const rateKeys = ['errorRate', 'rateLimitRate', 'timeoutRate', 'dropAfterCommitRate'] as const;
const knownKeys = new Set<string>([...rateKeys, 'latencyMs', 'hangMs', 'routes']);

/** Checks a fault config from code or from the HTTP control route; throws a readable Error when it is wrong. */
export function validateFaults(input: unknown): Faults {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new Error('faults must be an object');
  const f = input as Record<string, unknown>;
  for (const k of Object.keys(f)) if (!knownKeys.has(k)) throw new Error(`unknown fault '${k}'`);
  const out: Faults = {};
  for (const k of rateKeys) {
    const v = f[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new Error(`${k} must be a number between 0 and 1`);
    out[k] = v;
  }
  for (const k of ['latencyMs', 'hangMs'] as const) {
    const v = f[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`${k} must be a non-negative number of milliseconds`);
    out[k] = v;
  }
  if (f.routes !== undefined && f.routes !== null) {
    if (!Array.isArray(f.routes) || !f.routes.every((r) => typeof r === 'string')) throw new Error('routes must be an array of strings');
    out.routes = [...(f.routes as string[])];
  }
  return out;
}

/**
 * Decides faults per request from a seeded PRNG. Each enabled fault draws in a fixed order, so a given seed and
 * config replay the same sequence of decisions.
 */
export class FaultPlan {
  private faults: Faults = {};
  private readonly random: () => number;
  readonly injected: Record<FaultKind, number> = { error: 0, rateLimit: 0, timeout: 0, dropAfterCommit: 0, latency: 0 };

  constructor(
    faults: Faults | undefined,
    seed: number,
    private readonly defaultRoutes: readonly string[],
  ) {
    this.random = seededRandom(seed);
    this.set(faults ?? {});
  }

  set(faults: Faults): void {
    this.faults = validateFaults(faults);
  }

  get(): Faults {
    return { ...this.faults, routes: [...this.routes()] };
  }

  private routes(): readonly string[] {
    return this.faults.routes ?? this.defaultRoutes;
  }

  applies(route: string): boolean {
    const routes = this.routes();
    return routes.includes('*') || routes.includes(route);
  }

  private roll(rate: number | undefined, kind: FaultKind): boolean {
    if (!rate || rate <= 0) return false;
    const hit = rate >= 1 || this.random() < rate;
    if (hit) this.injected[kind]++;
    return hit;
  }

  latencyMs(): number {
    const ms = this.faults.latencyMs ?? 0;
    if (ms > 0) this.injected.latency++;
    return ms;
  }

  /** The fault to inject before the request is handled, if any. */
  before(): 'timeout' | 'error' | 'rateLimit' | undefined {
    if (this.roll(this.faults.timeoutRate, 'timeout')) return 'timeout';
    if (this.roll(this.faults.errorRate, 'error')) return 'error';
    if (this.roll(this.faults.rateLimitRate, 'rateLimit')) return 'rateLimit';
    return undefined;
  }

  dropAfterCommit(): boolean {
    return this.roll(this.faults.dropAfterCommitRate, 'dropAfterCommit');
  }

  hangMs(): number {
    return this.faults.hangMs ?? defaultHangMs;
  }
}
