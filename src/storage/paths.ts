import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (holds `migrations/` and `sql/`), found from this file whether it runs from `src/` or `dist/src/`. */
function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json')) || !existsSync(path.join(dir, 'migrations'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the stripemeter package root (migrations/ and package.json)');
    dir = parent;
  }
  return dir;
}

export const packageRoot = findRoot();
export const migrationsDir = path.join(packageRoot, 'migrations');
export const sqlDir = path.join(packageRoot, 'sql');
/** Files that migrations inline (`{{include:...}}`): frozen once their migration ran, unlike the queries in `sql/`. */
export const migrationIncludesDir = path.join(migrationsDir, 'includes');
