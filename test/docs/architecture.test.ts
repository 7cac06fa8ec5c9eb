import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/storage/paths.js';

// docs/architecture.md names where each invariant is enforced and tested: those names must stay true as files move.
const doc = readFileSync(path.join(packageRoot, 'docs', 'architecture.md'), 'utf8');
const quoted = [...doc.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!);
const testFiles = (dir: string): string[] =>
  readdirSync(path.join(packageRoot, dir), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.test.ts')).map((f) => path.basename(f));

describe('docs/architecture.md', () => {
  it('names only files and folders that exist', () => {
    const paths = quoted.filter((q) => /^(src|sql|migrations|ops|grafana|test|docs|bench)\/[\w./-]*$/.test(q) && !q.includes('NNNN'));
    expect(paths.length).toBeGreaterThan(30);
    for (const p of paths) expect(existsSync(path.join(packageRoot, p)), p).toBe(true);
    const links = [...doc.matchAll(/\]\(([\w-]+\.md)(#[\w-]+)?\)/g)].map((m) => m[1]!);
    for (const l of links) expect(existsSync(path.join(packageRoot, 'docs', l)), l).toBe(true);
  });

  it('names test files that exist, at least one for every invariant', () => {
    const known = new Set([...testFiles('src'), ...testFiles('test')]);
    for (const q of quoted.filter((x) => x.endsWith('.test.ts'))) expect(known.has(path.basename(q)), q).toBe(true);
    const section = doc.slice(doc.indexOf('## Invariants'), doc.indexOf('## SQL files'));
    const rows = section.split('\n').filter((l) => /^\| \*\*/.test(l));
    expect(rows.length).toBeGreaterThanOrEqual(9);
    for (const row of rows) expect(row.split(' | ').at(-1), row.slice(0, 60)).toMatch(/\.test\.ts/);
  });
});
