/**
 * Diagnostic ledgers for the push benchmark. Both are the real PushLedger (same SQL, same writes) with a thin
 * layer on top; the headline push figures use the plain PushLedger, as src/service.ts does.
 *  - TimedLedger records how long each ledger call takes inside a cycle (including any wait for the shared
 *    `jobs` connection, which runs one statement at a time).
 *  - NoWriteLedger skips the per-ack writes (saveIntents / savePushed): the engine's rate with the ledger's
 *    write cost taken out. Not exactly-once any more; used only to locate where time goes.
 */
import { PushLedger, type Intent, type PushItem } from '../src/stripe/ledger.js';

export type CallStats = { calls: number; rows: number; totalMs: number; meanMs: number; p50Ms: number; p95Ms: number; p99Ms: number; maxMs: number };

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function summarize(samples: Array<{ ms: number; rows: number }>): CallStats {
  const ms = samples.map((s) => s.ms).sort((a, b) => a - b);
  const totalMs = ms.reduce((a, b) => a + b, 0);
  return {
    calls: ms.length,
    rows: samples.reduce((a, s) => a + s.rows, 0),
    totalMs,
    meanMs: ms.length ? totalMs / ms.length : 0,
    p50Ms: percentile(ms, 50),
    p95Ms: percentile(ms, 95),
    p99Ms: percentile(ms, 99),
    maxMs: ms.at(-1) ?? 0,
  };
}

type Method = 'openIntents' | 'diff' | 'saveIntents' | 'savePushed';

export class TimedLedger extends PushLedger {
  readonly samples: Record<Method, Array<{ ms: number; rows: number }>> = { openIntents: [], diff: [], saveIntents: [], savePushed: [] };

  private async timed<T>(method: Method, rows: (r: T) => number, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    const r = await fn();
    this.samples[method].push({ ms: performance.now() - t0, rows: rows(r) });
    return r;
  }

  override openIntents(tenantId: string): Promise<Intent[]> {
    return this.timed('openIntents', (r) => r.length, () => super.openIntents(tenantId));
  }

  override diff(tenantId: string, onlyChanged: boolean, alsoKeys: Array<[string, string, string, string]> = []): Promise<PushItem[]> {
    return this.timed('diff', (r) => r.length, () => super.diff(tenantId, onlyChanged, alsoKeys));
  }

  override saveIntents(intents: Intent[]): Promise<void> {
    return this.timed('saveIntents', () => intents.length, () => super.saveIntents(intents));
  }

  override savePushed(acked: Intent[]): Promise<void> {
    return this.timed('savePushed', () => acked.length, () => super.savePushed(acked));
  }

  stats(): Record<Method, CallStats> {
    return {
      openIntents: summarize(this.samples.openIntents),
      diff: summarize(this.samples.diff),
      saveIntents: summarize(this.samples.saveIntents),
      savePushed: summarize(this.samples.savePushed),
    };
  }
}

export class NoWriteLedger extends PushLedger {
  override async saveIntents(_intents: Intent[]): Promise<void> {}
  override async savePushed(_acked: Intent[]): Promise<void> {}
}
