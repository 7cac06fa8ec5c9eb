import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const clientDir = fileURLToPath(new URL('..', import.meta.url));

describe('client types', () => {
  it('are generated from docs/openapi.json as checked in: run `npm run client:types` (or `npm run openapi`) after changing the spec', () => {
    // The package's own script, so the test and the command that writes the file cannot disagree on options.
    const generated = execFileSync('npm', ['run', '--silent', 'types:print'], { cwd: clientDir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(readFileSync(new URL('./schema.ts', import.meta.url), 'utf8')).toBe(generated);
  });
});
