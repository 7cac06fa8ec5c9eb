import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';
import { createLogger, resolveLogFormat } from './log.js';
import { packageRoot } from './storage/paths.js';

const secrets = { key: 'sm_secret_one', adminKey: 'sm_secret_two', req: { headers: { authorization: 'Bearer sm_secret_three', 'x-api-key': 'sm_secret_four' } } };

function captured(format: 'json' | 'pretty') {
  let text = '';
  const sink = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  });
  const log = createLogger('info', sink, format);
  log.info({ ...secrets, tenantId: 'demo', status: 200 }, 'request done');
  return text;
}

describe('log format', () => {
  it('is pretty on a terminal and JSON anywhere else, unless LOG_FORMAT forces one', () => {
    expect(resolveLogFormat('auto', true)).toBe('pretty');
    expect(resolveLogFormat('auto', false)).toBe('json');
    expect(resolveLogFormat('json', true)).toBe('json');
    expect(resolveLogFormat('pretty', false)).toBe('pretty');
    expect(loadConfig({}).logFormat).toBe('auto');
    expect(loadConfig({ LOG_FORMAT: 'pretty' }).logFormat).toBe('pretty');
    expect(() => loadConfig({ LOG_FORMAT: 'yaml' })).toThrow(ConfigError);
    expect(() => loadConfig({ LOG_FORMAT: 'yaml' })).toThrow(/LOG_FORMAT/);
  });

  it('writes readable lines when pretty and JSON lines otherwise, credentials redacted in both', () => {
    const pretty = captured('pretty');
    expect(pretty).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: request done\n/);
    expect(pretty).toMatch(/^ {4}tenantId: "demo"$/m);
    expect(pretty).not.toContain('"level"');
    const json = captured('json');
    expect(JSON.parse(json)).toMatchObject({ level: 30, msg: 'request done', tenantId: 'demo', service: 'stripemeter', key: '[redacted]' });
    for (const text of [pretty, json]) {
      expect(text).toContain('[redacted]');
      expect(text).not.toMatch(/sm_secret/);
    }
  });
});

// `script` gives the command a pseudo-terminal for stdout; runs the compiled CLI (`npm run build` first).
const run = promisify(execFile);
const hasScript = existsSync('/usr/bin/script');
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'stripemeter-log-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe.skipIf(!hasScript)('stripemeter on a terminal', () => {
  const cli = `${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(packageRoot, 'dist/src/cli.js'))} migrate`;
  const env = { ...process.env, STRIPEMETER_DATA_DIR: path.join(dataDir, 'data'), LOG_LEVEL: 'info', LOG_FORMAT: 'auto' };

  it('logs readable lines on a terminal and JSON into a pipe', async () => {
    const tty = (await run('script', ['-qec', cli, '/dev/null'], { env })).stdout;
    expect(tty).toMatch(/INFO.*: .*migrations up to date/);
    expect(tty).not.toContain('"msg"');
    const piped = (await run('bash', ['-c', cli], { env })).stdout.trim().split('\n');
    expect(JSON.parse(piped.at(-1)!)).toMatchObject({ msg: 'migrations up to date' });
    const forced = (await run('script', ['-qec', cli, '/dev/null'], { env: { ...env, LOG_FORMAT: 'json' } })).stdout;
    expect(forced).toContain('"msg":"migrations up to date"');
  });
});
