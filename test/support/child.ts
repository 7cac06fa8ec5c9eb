import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { packageRoot } from '../../src/storage/paths.js';

export type ChildService = { url: string; process: ChildProcess; output: () => string; exited: Promise<number | null> };

/**
 * Runs the compiled service (`dist/`, built by `npm test`'s pretest) in a child process, for tests that must kill it
 * outright (SIGKILL) as a crash would. Resolves once it listens.
 */
export async function spawnService(env: Record<string, string>, command = 'start'): Promise<ChildService> {
  const child = spawn(process.execPath, [path.join(packageRoot, 'dist/src/cli.js'), command], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`service did not start:\n${out}`)), 30_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"stripemeter listening"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => reject(new Error(`service exited (${code}) before listening:\n${out}`)));
  });
  return { url, process: child, output: () => out, exited };
}

/** One JSON call to a child service with a bearer key: its status and parsed body. */
export async function callService(url: string, key: string, method: string, urlPath: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}${urlPath}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: (await res.json()) as any };
}
