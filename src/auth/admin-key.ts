import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateKey } from './keys.js';

/**
 * The service admin key: STRIPEMETER_ADMIN_KEY when set, else `<data dir>/admin.key`, created on first start with
 * mode 0600. Returns where it came from so start-up can say so without printing it.
 */
export function resolveAdminKey(dataDir: string, fromEnv: string | undefined): { key: string; source: string } {
  if (fromEnv) return { key: fromEnv, source: 'STRIPEMETER_ADMIN_KEY' };
  const file = path.join(dataDir, 'admin.key');
  if (existsSync(file)) return { key: readFileSync(file, 'utf8').trim(), source: file };
  mkdirSync(dataDir, { recursive: true });
  const { key } = generateKey();
  writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  return { key, source: file };
}
