/**
 * A ClickHouseClient wrapper for bench/replay.ts that records every call the code under test makes (query, insert,
 * command, exec; and the ResultSet's json()/text()), with its duration and a label naming the sql/ file it ran, so
 * an end-to-end figure (a replay apply, a reconciliation compare) can be split into its statements without touching
 * src/. Overhead: one performance.now() pair per call.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { sqlDir } from '../src/storage/paths.js';

export type ProbeCall = { call: string; label: string; startMs: number; ms: number; rows?: number };

function sqlNames(): Map<string, string> {
  const names = new Map<string, string>();
  const walk = (dir: string, prefix: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(dir, e.name), `${prefix}${e.name}/`);
      else if (e.name.endsWith('.sql')) {
        const text = readFileSync(path.join(dir, e.name), 'utf8').trim().replace(/;\s*$/, '');
        names.set(text, `${prefix}${e.name.slice(0, -4)}`);
      }
    }
  };
  walk(sqlDir, '');
  return names;
}

export class Probe {
  calls: ProbeCall[] = [];
  private readonly names = sqlNames();
  private origin = performance.now();

  reset(): void {
    this.calls = [];
    this.origin = performance.now();
  }

  private label(params: unknown): string {
    const p = params as { query?: string; table?: string };
    if (p.table) return p.table;
    const q = (p.query ?? '').trim();
    const name = this.names.get(q);
    if (name) return name;
    return q.replace(/--[^\n]*\n/g, ' ').replace(/\s+/g, ' ').slice(0, 60);
  }

  wrap(client: ClickHouseClient): ClickHouseClient {
    const record = (call: string, label: string, t0: number, rows?: number) =>
      this.calls.push({ call, label, startMs: t0 - this.origin, ms: performance.now() - t0, ...(rows === undefined ? {} : { rows }) });
    return new Proxy(client, {
      get: (target, prop) => {
        const value = (target as unknown as Record<string | symbol, unknown>)[prop];
        if (typeof value !== 'function') return value;
        const fn = (value as (...a: unknown[]) => unknown).bind(target);
        if (prop !== 'query' && prop !== 'insert' && prop !== 'command' && prop !== 'exec') return fn;
        return async (params: unknown) => {
          const label = this.label(params);
          const t0 = performance.now();
          const out = await (fn(params) as Promise<unknown>);
          record(String(prop), label, t0);
          if (prop !== 'query') return out;
          // The result set: time its json()/text() (transfer + parse) separately.
          return new Proxy(out as object, {
            get: (rs, key) => {
              const v = (rs as Record<string | symbol, unknown>)[key];
              if (typeof v !== 'function') return v;
              const f = (v as (...a: unknown[]) => unknown).bind(rs);
              if (key !== 'json' && key !== 'text') return f;
              return async () => {
                const t1 = performance.now();
                const res = await (f() as Promise<unknown>);
                record(`${String(key)}()`, label, t1, Array.isArray(res) ? res.length : undefined);
                return res;
              };
            },
          });
        };
      },
    });
  }

  /** Calls grouped by call + label, in first-seen order: count and total ms. */
  summary(totalMs: number): { steps: Array<{ step: string; count: number; ms: number }>; outsideClientMs: number } {
    const by = new Map<string, { step: string; count: number; ms: number }>();
    let sum = 0;
    for (const c of this.calls) {
      const step = `${c.call} ${c.label}`;
      let s = by.get(step);
      if (!s) by.set(step, (s = { step, count: 0, ms: 0 }));
      s.count++;
      s.ms += c.ms;
      sum += c.ms;
    }
    return { steps: [...by.values()], outsideClientMs: totalMs - sum };
  }
}
