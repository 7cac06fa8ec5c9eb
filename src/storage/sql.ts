import { readFileSync } from 'node:fs';
import path from 'node:path';
import { sqlDir } from './paths.js';

const cache = new Map<string, string>();

/** Loads a named query from `sql/<name>.sql`. Queries take ClickHouse `{name:Type}` parameters, never spliced values. */
export function loadSql(name: string): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = readFileSync(path.join(sqlDir, `${name}.sql`), 'utf8').trim().replace(/;\s*$/, '');
    cache.set(name, text);
  }
  return text;
}
