import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../support/ports.js';

/** The Prometheus binaries (Debian/Ubuntu package `prometheus`); PROMETHEUS_BIN / PROMTOOL_BIN override. */
export const prometheusBin = process.env.PROMETHEUS_BIN ?? 'prometheus';
export const promtoolBin = process.env.PROMTOOL_BIN ?? 'promtool';

/** Throws a message that says how to install the binary when it is not on PATH. */
export function requireBinary(bin: string): void {
  try {
    execFileSync(bin, ['--version'], { stdio: 'pipe' });
  } catch {
    throw new Error(`${bin} is not installed: apt-get install prometheus (Prometheus 2.x), or set PROMETHEUS_BIN/PROMTOOL_BIN`);
  }
}

export type QueryResult = { status: 'success' | 'error'; error?: string; data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> } };

export type PrometheusServer = {
  url: string;
  query(expr: string): Promise<QueryResult>;
  /** GET on the HTTP API (`/api/v1/rules`, ...), parsed. */
  api<T = any>(apiPath: string): Promise<T>;
  output(): string;
  stop(): Promise<void>;
};

/**
 * Starts a real Prometheus on a loopback port and a temporary TSDB, scraping `target` (host:port) every second as
 * job `job`, with `ruleFiles` loaded and evaluated every second. Resolves once it is ready.
 */
export async function startPrometheus(opts: { target: string; job: string; ruleFiles: string[] }): Promise<PrometheusServer> {
  requireBinary(prometheusBin);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'stripemeter-prometheus-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const config = [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    '  evaluation_interval: 1s',
    'rule_files:',
    ...opts.ruleFiles.map((f) => `  - ${JSON.stringify(f)}`),
    'scrape_configs:',
    `  - job_name: ${JSON.stringify(opts.job)}`,
    '    metrics_path: /metrics',
    '    static_configs:',
    `      - targets: [${JSON.stringify(opts.target)}]`,
    '',
  ].join('\n');
  writeFileSync(path.join(dir, 'prometheus.yml'), config);
  const child = spawn(
    prometheusBin,
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exitCode = code;
      resolve();
    }),
  );

  const stop = async () => {
    if (exitCode === undefined) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exitCode !== undefined) {
      await stop();
      throw new Error(`prometheus exited (${exitCode}) before it was ready:\n${out}`);
    }
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus was not ready within 20 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    url,
    async query(expr) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      return (await res.json()) as QueryResult;
    },
    async api(apiPath) {
      const res = await fetch(`${url}${apiPath}`);
      return res.json() as Promise<any>;
    },
    output: () => out,
    stop,
  };
}
