/**
 * What the push and replay benchmarks share: settings from the environment, formatting, timing (median of n after a
 * warm-up), correctness checks, and the report table they print.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';

export const env = (name: string, fallback: number) => {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number`);
  return n;
};

export const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
export const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
export const ms = (n: number) => (n >= 100 ? `${fmt(n, 0)} ms` : `${fmt(n, 1)} ms`);
export const ratio = (a: number, b: number) => (b > 0 ? a / b : NaN);
export const x = (r: number) => `${fmt(r, 2)}x`;
export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export type Timing = { medianMs: number; minMs: number; maxMs: number; samplesMs: number[]; warmupMs: number; rows: number };

/**
 * One warm-up call, then `n` timed ones. `fn` returns a row count; with `sameRows`, a count that changes between
 * calls fails the run (the timed work must be the same each time).
 */
export async function timeIt(fn: () => Promise<number>, n: number, sameRows = false): Promise<Timing> {
  let t0 = performance.now();
  const rows = await fn();
  const warmupMs = performance.now() - t0;
  const samplesMs: number[] = [];
  for (let i = 0; i < n; i++) {
    t0 = performance.now();
    const again = await fn();
    samplesMs.push(performance.now() - t0);
    if (sameRows && again !== rows) throw new Error(`row count changed between runs: ${rows} then ${again}`);
  }
  return { medianMs: median(samplesMs), minMs: Math.min(...samplesMs), maxMs: Math.max(...samplesMs), samplesMs, warmupMs, rows };
}

export async function pool(concurrency: number, n: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      for (let i = next++; i < n; i = next++) await fn(i);
    }),
  );
}

export async function jsonRows<T = unknown>(client: ClickHouseClient, query: string, params: Record<string, unknown> = {}): Promise<T[]> {
  const rs = await client.query({ query, query_params: params, format: 'JSONEachRow' });
  return rs.json<T>();
}

/** The engine's time alone: the query runs, its result is thrown away inside the engine. */
export async function nullFormat(client: ClickHouseClient, query: string, params: Record<string, unknown>): Promise<number> {
  await client.command({ query: `${query}\nFORMAT Null`, query_params: params });
  return 0;
}

/** Waits (up to maxMs) until the engine runs no merge, so timings do not race background merges. */
export async function settleMerges(client: ClickHouseClient, maxMs: number): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < maxMs) {
    const [r] = await jsonRows<{ n: number }>(client, 'SELECT toUInt32(count()) AS n FROM system.merges');
    if (Number(r?.n ?? 0) === 0) break;
    await new Promise((res) => setTimeout(res, 200));
  }
  return performance.now() - t0;
}

const lines: Array<[string, string]> = [];
const checks: Record<string, boolean> = {};

export const section = (title: string) => lines.push([`== ${title}`, '']);
export const line = (k: string, v: string) => {
  lines.push([k, v]);
  log(`${k}: ${v}`);
};
export const check = (name: string, ok: boolean, detail = '') => {
  checks[name] = ok;
  if (!ok) log(`CHECK FAILED: ${name} ${detail}`);
};

/** The checks so far, for the report and its JSON copy. */
export const checkResults = () => ({ ...checks });
export const allChecksPassed = () => Object.values(checks).every(Boolean);
export const checksLine = () =>
  allChecksPassed()
    ? `all ${Object.keys(checks).length} passed`
    : `FAILED: ${Object.entries(checks).filter(([, v]) => !v).map(([k]) => k).join('; ')}`;

export function printReport(title: string): void {
  const width = Math.max(...lines.map(([k]) => k.length));
  console.log(`\n${title}`);
  console.log('-'.repeat(width + 80));
  for (const [k, v] of lines) console.log(v === '' ? `\n${k}` : `${k.padEnd(width)}  ${v}`);
  console.log('-'.repeat(width + 80));
}

/**
 * Writes the run's figures, with the machine and the checks, to bench/results/<name>-<start>.json, and fails the
 * process when a check failed.
 */
export function writeResults(root: string, name: string, startedAt: string, loadAvgStart: number[], figures: Record<string, unknown>): void {
  const machine = { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? '', memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, loadAvgStart, loadAvgEnd: os.loadavg() };
  const outDir = path.join(root, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `${name}-${startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ startedAt, machine, ...figures, checks: checkResults() }, null, 2) + '\n');
  console.log(`results: ${path.relative(root, file)}`);
  if (!allChecksPassed()) process.exitCode = 1;
}
