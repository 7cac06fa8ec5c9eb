import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../test/support/ports.js';

/** Memory figures from /proc/<pid>/status, in bytes: current RSS and its high-water mark. */
export function memoryOf(pid: number | 'self'): { rss: number; hwm: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** User + system CPU seconds of a process, all threads (/proc/<pid>/stat utime + stime). */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is state (field 3); utime and stime are fields 14 and 15.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Busy CPU seconds of the whole machine since boot, all cores (/proc/stat: everything but idle and iowait). */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[];
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / 100;
}

export type ServiceChild = {
  pid: number;
  port: number;
  adminKey: string;
  dataDir: string;
  /** Peak RSS sampled while running (VmHWM is also read at stop). */
  sampleMemory(): { rss: number; hwm: number };
  metricsText(): Promise<string>;
  /** SIGTERM, wait for a clean exit (queued ingest committed, storage closed); returns the final VmHWM. */
  stop(): Promise<{ hwm: number; code: number | null }>;
  kill(): void;
};

/** Starts `node dist/src/cli.js start` on the embedded engine in its own process and waits until it is ready. */
export async function startServiceChild(opts: { root: string; dataDir: string; nodeArgs?: string[]; env?: Record<string, string> }): Promise<ServiceChild> {
  const port = await freePort();
  // The service starts a Stripe sandbox when no STRIPE_SECRET_KEY is set; keep it off the default port so the
  // benchmark does not clash with tests or another instance.
  const sandboxPort = await freePort();
  const child: ChildProcess = spawn(process.execPath, [...(opts.nodeArgs ?? []), path.join(opts.root, 'dist/src/cli.js'), 'start'], {
    cwd: opts.root,
    env: {
      ...process.env,
      STRIPEMETER_DATA_DIR: opts.dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      STRIPEMETER_DEMO_TENANT: 'true',
      STRIPE_SANDBOX_PORT: String(sandboxPort),
      ...(opts.env ?? {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const prefix = (chunk: Buffer) =>
    String(chunk)
      .split('\n')
      .filter(Boolean)
      .map((l) => `[service] ${l}\n`)
      .join('');
  child.stdout!.on('data', (c: Buffer) => process.stderr.write(prefix(c)));
  child.stderr!.on('data', (c: Buffer) => process.stderr.write(prefix(c)));
  let exited: { code: number | null } | undefined;
  const exit = new Promise<{ code: number | null }>((resolve) =>
    child.once('exit', (code) => {
      exited = { code };
      resolve(exited);
    }),
  );
  const pid = child.pid!;
  let lastHwm = 0;
  const sampleMemory = () => {
    if (exited) return { rss: 0, hwm: lastHwm };
    const m = memoryOf(pid);
    lastHwm = Math.max(lastHwm, m.hwm);
    return m;
  };

  const deadline = Date.now() + 120_000;
  for (;;) {
    if (exited) throw new Error(`service exited during start-up with code ${exited.code}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health/ready`);
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error('service did not become ready within 120 s');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const adminKey = readFileSync(path.join(opts.dataDir, 'admin.key'), 'utf8').trim();

  return {
    pid,
    port,
    adminKey,
    dataDir: opts.dataDir,
    sampleMemory,
    async metricsText() {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      return res.text();
    },
    async stop() {
      sampleMemory();
      if (!exited) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
      const { code } = await exit;
      clearTimeout(timer);
      return { hwm: lastHwm, code };
    },
    kill() {
      if (!exited) child.kill('SIGKILL');
    },
  };
}

/** Sums of a Prometheus histogram or counter family from /metrics text (all label sets added up). */
export function metricValue(text: string, name: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/**
 * A run's temporary directory. `cleanup` kills the service the run started (if any) and removes the directory unless
 * `keep`; Ctrl-C does the same before exiting.
 */
export function runDirectory(prefix: string, keep: boolean, service: () => ServiceChild | undefined): { tmp: string; cleanup: () => void } {
  const tmp = mkdtempSync(path.join(os.tmpdir(), prefix));
  const cleanup = () => {
    service()?.kill();
    if (!keep) rmSync(tmp, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  return { tmp, cleanup };
}
