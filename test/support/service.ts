import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { startService, type RunningService } from '../../src/service.js';
import { responseProblems } from './openapi.js';

export type TestService = RunningService & {
  dataDir: string;
  /** Every log line the service wrote, parsed. */
  logs: Array<Record<string, unknown>>;
  /** Raw log text, for checking that no secret was ever written. */
  logText(): string;
  /** Sends a request and checks the response against the OpenAPI spec (a mismatch throws). */
  request(method: string, urlPath: string, opts?: { body?: unknown; key?: string | null; headers?: Record<string, string> }): Promise<{
    status: number;
    body: any;
    headers: Headers;
  }>;
  /** Stops the service (closing every engine connection) and starts it again on the same data directory. */
  restart(): Promise<TestService>;
  /** Stops and deletes the data directory. */
  destroy(): Promise<void>;
};

/** Starts the real service on the embedded engine, a temporary data directory and a free loopback port. */
export async function startTestService(env: Record<string, string> = {}, dataDir?: string): Promise<TestService> {
  const dir = dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'stripemeter-test-'));
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  // The built-in Stripe sandbox also takes a free port, so test files running side by side never collide.
  const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', STRIPEMETER_DATA_DIR: dir, LOG_LEVEL: 'debug', STRIPE_SANDBOX_PORT: '0', ...env });
  const running = await startService(config, createLogger(config.logLevel, sink));
  const svc: TestService = {
    ...running,
    dataDir: dir,
    get logs() {
      return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    logText: () => lines.join('\n'),
    async request(method, urlPath, opts = {}) {
      const key = opts.key === undefined ? running.adminKey : opts.key;
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      if (key) headers.authorization = `Bearer ${key}`;
      let body: string | undefined;
      if (opts.body !== undefined) {
        body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
        headers['content-type'] ??= 'application/json';
      }
      const res = await fetch(`${running.url}${urlPath}`, { method, headers, body });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON (e.g. /metrics)
      }
      // Every response a test reads is checked against the OpenAPI spec: the spec cannot drift from the handlers.
      const problems = responseProblems(method, urlPath, res.status, res.headers.get('content-type'), parsed);
      if (problems.length > 0) throw new Error(`response does not match the OpenAPI spec:\n${problems.join('\n')}`);
      return { status: res.status, body: parsed, headers: res.headers };
    },
    async restart() {
      await running.stop();
      return startTestService(env, dir);
    },
    async destroy() {
      await running.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return svc;
}

/** An event with sensible defaults for the demo tenant, timestamped now. */
export function event(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    tenantId: 'demo',
    metric: 'requests',
    customerRef: 'cus_1',
    quantity: 1,
    ts: new Date().toISOString(),
    ...overrides,
  };
}
