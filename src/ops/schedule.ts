import cron from 'node-cron';
import type { Logger } from '../log.js';

/**
 * The node-cron expression that fires every `intervalMs`, or null when the interval does not divide a minute, an
 * hour or a day (cron fields cannot express it without drift at the wrap-around).
 */
export function cronFor(intervalMs: number): string | null {
  if (intervalMs <= 0 || intervalMs % 1000 !== 0) return null;
  const s = intervalMs / 1000;
  if (s < 60) return 60 % s === 0 ? `*/${s} * * * * *` : null;
  if (s % 60 === 0 && s < 3600) return 60 % (s / 60) === 0 ? `0 */${s / 60} * * * *` : null;
  if (s % 3600 === 0 && s <= 86_400) return 24 % (s / 3600) === 0 ? `0 0 */${s / 3600} * * *` : s === 86_400 ? '0 0 0 * * *' : null;
  return null;
}

/**
 * A background job on a node-cron schedule. Runs never overlap: a tick that finds the previous run still going is
 * skipped, and `runNow` waits for the running one before starting its own.
 */
export class PeriodicJob<T> {
  private task: ReturnType<typeof cron.schedule> | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private busy = false;
  lastRunAt: number | undefined;

  constructor(
    private readonly name: string,
    private readonly intervalMs: number,
    private readonly run: (arg: string | null) => Promise<T>,
    private readonly log: Logger,
    /** Told after every run (the workers' heartbeat); its failure is logged, never the job's. */
    private readonly onRun?: (ok: boolean) => Promise<void>,
  ) {}

  start(): void {
    const expression = cronFor(this.intervalMs);
    if (!expression) throw new Error(`${this.name}: interval ${this.intervalMs} ms cannot be scheduled`);
    this.task = cron.schedule(expression, () => {
      if (this.busy) return;
      this.runNow(null).catch((err) => this.log.error({ err, job: this.name }, 'background job failed'));
    });
  }

  runNow(arg: string | null): Promise<T> {
    return this.runExclusive(async () => {
      let ok = false;
      try {
        const result = await this.run(arg);
        ok = true;
        return result;
      } finally {
        this.lastRunAt = Date.now();
        await this.onRun?.(ok).catch((err) => this.log.warn({ err, job: this.name }, 'could not record the heartbeat'));
      }
    });
  }

  /** Runs `fn` between runs of the job, never during one (e.g. a ledger change the job must not race). */
  runExclusive<R>(fn: () => Promise<R>): Promise<R> {
    const next = this.chain.then(async () => {
      this.busy = true;
      try {
        return await fn();
      } finally {
        this.busy = false;
      }
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  async stop(): Promise<void> {
    await this.task?.stop();
    this.task = undefined;
    await this.chain;
  }
}
