import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config.js';
import { openStorage, type Storage } from '../../src/storage/client.js';
import { migrate } from '../../src/storage/migrations.js';

export type TestStorage = Storage & { dir: string; destroy(): Promise<void> };

/** The embedded engine on a temporary data directory, migrated, without the service around it. */
export async function openTestStorage(name: string, env: Record<string, string> = {}): Promise<TestStorage> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `stripemeter-${name}-`));
  const storage = await openStorage(loadConfig({ ...env, STRIPEMETER_DATA_DIR: dir }));
  await migrate(storage.jobs, {});
  return {
    ...storage,
    dir,
    async destroy() {
      await storage.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
