import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { packageRoot } from '../../src/storage/paths.js';

const run = promisify(execFile);

export const composeFiles = ['docker-compose.yml', 'docker-compose.prod.yml'] as const;
export type ComposeFile = (typeof composeFiles)[number];

export type PortMapping = { hostIp: string | undefined; published: string | undefined; target: number };

export type ComposeService = {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string[] | string;
  entrypoint?: string[] | string;
  tmpfs?: string[] | string;
  container_name?: string;
  environment?: Record<string, string | number | boolean | null>;
  ports?: Array<string | number | { published?: string | number; target: number | string; host_ip?: string }>;
  healthcheck?: { test?: string[] | string; disable?: boolean };
  depends_on?: string[] | Record<string, { condition?: string }>;
  profiles?: string[];
  volumes?: Array<string | { type?: string; source?: string; target: string; read_only?: boolean }>;
  restart?: string;
};

export type ComposeConfig = { services: Record<string, ComposeService>; volumes?: Record<string, unknown> };

/** Whether a command runs at all here (`docker-compose version`, `promtool --version`). */
export async function available(cmd: string, args: string[]): Promise<boolean> {
  try {
    await run(cmd, args, { timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}

let tmpDir: string | undefined;
let envFiles = 0;

/** An env file for `--env-file`: compose never reads a developer's own `.env` during the tests. */
export function envFile(vars: Record<string, string> = {}): string {
  if (!tmpDir) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'stripemeter-compose-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    tmpDir = dir;
  }
  const file = path.join(tmpDir, `test-${++envFiles}.env`);
  writeFileSync(file, Object.entries(vars).map(([k, v]) => `${k}=${v}\n`).join(''));
  return file;
}

export type ComposeRun = { ok: boolean; stdout: string; stderr: string };

/**
 * `docker-compose -f <file> [--profile p] --env-file <file> config`, in the package root, with a clean environment:
 * only PATH/HOME and `vars` reach compose's interpolation, so the defaults written in the file are what is checked.
 */
export async function composeConfig(
  file: ComposeFile,
  opts: { vars?: Record<string, string>; envFile?: string; profiles?: string[]; args?: string[] } = {},
): Promise<ComposeRun> {
  const args = ['-f', file, '--env-file', opts.envFile ?? envFile()];
  for (const p of opts.profiles ?? []) args.push('--profile', p);
  args.push('config', ...(opts.args ?? []));
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? os.tmpdir(), ...opts.vars };
  try {
    const { stdout, stderr } = await run('docker-compose', args, { cwd: packageRoot, env, timeout: 60_000, maxBuffer: 10 * 1024 * 1024 });
    return { ok: true, stdout, stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return { ok: false, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message };
  }
}

/** The resolved configuration `docker-compose config` printed. */
export function parseConfig(out: ComposeRun): ComposeConfig {
  if (!out.ok) throw new Error(`docker-compose config failed:\n${out.stderr}`);
  return parse(out.stdout) as ComposeConfig;
}

export function service(config: ComposeConfig, name: string): ComposeService {
  const s = config.services[name];
  if (!s) throw new Error(`no service ${name}; services: ${Object.keys(config.services).join(', ')}`);
  return s;
}

export function environment(s: ComposeService): Record<string, string> {
  return Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

export function commandOf(s: ComposeService): string[] {
  if (Array.isArray(s.command)) return s.command.map(String);
  return s.command ? s.command.split(/\s+/).filter(Boolean) : [];
}

/** The value following `--flag` in a command. */
export function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

/** Ports in either short (`[ip:]published:target[/proto]`) or long (`{published, target}`) syntax. */
export function portMappings(s: ComposeService): PortMapping[] {
  return (s.ports ?? []).map((p) => {
    if (typeof p === 'object') {
      return { hostIp: p.host_ip, published: p.published === undefined ? undefined : String(p.published), target: Number(p.target) };
    }
    const parts = String(p).replace(/\/(tcp|udp)$/, '').split(':');
    const target = Number(parts.pop());
    const published = parts.pop();
    return { hostIp: parts.length ? parts.join(':') : undefined, published, target };
  });
}

export function healthcheckCommand(s: ComposeService): string {
  const t = s.healthcheck?.test;
  if (!t) return '';
  return Array.isArray(t) ? t.join(' ') : t;
}

/** The URL a health check probes (the first http URL in its command). */
export function healthcheckUrl(s: ComposeService): URL | undefined {
  const m = /https?:\/\/[^\s'"`)]+/.exec(healthcheckCommand(s));
  return m ? new URL(m[0]) : undefined;
}

export function dependsOn(s: ComposeService): Record<string, string> {
  const d = s.depends_on;
  if (!d) return {};
  if (Array.isArray(d)) return Object.fromEntries(d.map((n) => [n, 'service_started']));
  return Object.fromEntries(Object.entries(d).map(([n, v]) => [n, v.condition ?? 'service_started']));
}

export type Mount = { source: string; target: string; readOnly: boolean };

/** Volume entries as source/target; bind sources are absolute (compose resolves them against the file's directory). */
export function mounts(s: ComposeService): Mount[] {
  return (s.volumes ?? []).map((v) => {
    if (typeof v === 'object') return { source: v.source ?? '', target: v.target, readOnly: v.read_only === true };
    const [source = '', target = '', mode = ''] = v.split(':');
    return { source, target, readOnly: mode.split(',').includes('ro') };
  });
}

/** Names interpolated anywhere in a raw compose file: `${NAME}`, `${NAME:-x}`, `${NAME:?msg}`... */
export function interpolatedNames(raw: string): { all: Set<string>; required: Set<string> } {
  const all = new Set<string>();
  const required = new Set<string>();
  for (const m of raw.matchAll(/(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?])?/g)) {
    all.add(m[1]!);
    if (m[2]?.endsWith('?')) required.add(m[1]!);
  }
  return { all, required };
}

export type DockerInstruction = { instruction: string; args: string; stage: number };

/** Dockerfile instructions in order (comments dropped, continuation lines joined), with the build stage index. */
export function dockerfileInstructions(text: string): DockerInstruction[] {
  const logical: string[] = [];
  let current = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line)) continue;
    const cont = /\\\s*$/.test(line);
    current += `${line.replace(/\\\s*$/, '')} `;
    if (!cont) {
      if (current.trim()) logical.push(current.trim());
      current = '';
    }
  }
  if (current.trim()) logical.push(current.trim());
  let stage = -1;
  return logical.map((l) => {
    const [, instruction = '', args = ''] = /^(\S+)\s*(.*)$/.exec(l) ?? [];
    if (instruction.toUpperCase() === 'FROM') stage++;
    return { instruction: instruction.toUpperCase(), args: args.trim(), stage };
  });
}

/** Exec-form (`["node", "x.js"]`) or shell-form arguments of CMD/ENTRYPOINT as a word list. */
export function execForm(args: string): string[] {
  if (args.startsWith('[')) return (JSON.parse(args) as unknown[]).map(String);
  return args.split(/\s+/).filter(Boolean);
}

/** Lines of ```sh / ```bash blocks of a markdown file. */
export function shellLines(markdown: string): string[] {
  const lines: string[] = [];
  let inBlock = false;
  for (const line of markdown.split('\n')) {
    if (/^```(sh|bash|shell)\s*$/.test(line)) inBlock = true;
    else if (line.startsWith('```')) inBlock = false;
    else if (inBlock) lines.push(line);
  }
  return lines;
}
