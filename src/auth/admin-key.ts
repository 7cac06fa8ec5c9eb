import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../config.js';
import { ensurePrivateDir, privateFileMode } from '../storage/private-files.js';
import { generateKey } from './keys.js';

/** What generateKey makes: `sm_` and 32 random bytes in base64url. */
const adminKeyFormat = /^sm_[A-Za-z0-9_-]{43}$/;

/**
 * The service admin key: STRIPEMETER_ADMIN_KEY when set, else `<data dir>/admin.key`, created on first start with
 * mode 0600. Returns where it came from so start-up can say so without printing it. An existing file that group or
 * others may read, or that does not hold one key as generated, stops the start: the key may have leaked, or the
 * file is not ours, and either needs an operator (messages never quote the file's content).
 */
export function resolveAdminKey(dataDir: string, fromEnv: string | undefined): { key: string; source: string } {
  if (fromEnv) return { key: fromEnv, source: 'STRIPEMETER_ADMIN_KEY' };
  const file = path.join(dataDir, 'admin.key');
  if (existsSync(file)) {
    const st = statSync(file);
    const mode = st.mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new ConfigError(
        `${file} is readable by group or others (mode ${mode.toString(8).padStart(4, '0')}); treat the key as leaked: ` +
          `delete the file to have a new key generated, or chmod 600 it to keep this one`,
      );
    }
    // Not read at all when too long to be a key (a mistaken path to a large file).
    const key = st.isFile() && st.size <= 256 ? readFileSync(file, 'utf8').trim() : '';
    if (!adminKeyFormat.test(key)) {
      throw new ConfigError(`${file} does not hold an admin key (sm_ and 43 base64url characters); delete it to have a new one generated`);
    }
    return { key, source: file };
  }
  ensurePrivateDir(dataDir);
  const { key } = generateKey();
  writeFileSync(file, `${key}\n`, { mode: privateFileMode, flag: 'wx' });
  return { key, source: file };
}
