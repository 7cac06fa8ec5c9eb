import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestService } from '../support/service.js';

// The data directory holds the admin key, every event and the sandbox's customers: owner-only, old ones tightened.
const dir = mkdtempSync(path.join(os.tmpdir(), 'stripemeter-files-'));
const dataDir = path.join(dir, 'data');
const modeOf = (p: string) => statSync(p).mode & 0o777;
const files = {
  dataDir,
  clickhouse: path.join(dataDir, 'clickhouse'),
  adminKey: path.join(dataDir, 'admin.key'),
  journal: path.join(dataDir, 'stripe-sandbox.jsonl'),
  dedupe: path.join(dataDir, 'dedupe'),
  keyFilter: path.join(dataDir, 'dedupe', 'key-filter.bin'),
};

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('data directory permissions', () => {
  it('creates the directories 0700 and the files 0600', async () => {
    const previous = process.umask(0o022);
    try {
      const svc = await startTestService({}, dataDir);
      await svc.stop(); // writes the key filter snapshot
    } finally {
      process.umask(previous);
    }
    expect(modeOf(files.dataDir).toString(8)).toBe('700');
    expect(modeOf(files.clickhouse).toString(8)).toBe('700');
    expect(modeOf(files.dedupe).toString(8)).toBe('700');
    expect(modeOf(files.adminKey).toString(8)).toBe('600');
    expect(modeOf(files.journal).toString(8)).toBe('600');
    expect(modeOf(files.keyFilter).toString(8)).toBe('600');
  });

  it('tightens the ones an older version left open', async () => {
    chmodSync(files.dataDir, 0o755);
    chmodSync(files.dedupe, 0o755);
    chmodSync(files.journal, 0o644);
    chmodSync(files.keyFilter, 0o644);
    const svc = await startTestService({}, dataDir);
    expect(modeOf(files.dataDir).toString(8)).toBe('700');
    expect(modeOf(files.dedupe).toString(8)).toBe('700');
    expect(modeOf(files.journal).toString(8)).toBe('600');
    expect(modeOf(files.keyFilter).toString(8)).toBe('600');
    await svc.stop();
  });
});

describe('an existing admin.key', () => {
  it('refuses to start while group or others may read it, without printing the key', async () => {
    const key = readFileSync(files.adminKey, 'utf8').trim();
    chmodSync(files.adminKey, 0o644);
    const err = await startTestService({}, dataDir).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/admin\.key is readable by group or others \(mode 0644\)/);
    expect(err?.message).not.toContain(key);
    expect(err?.message).not.toContain(key.slice(3, 20));
    chmodSync(files.adminKey, 0o640);
    await expect(startTestService({}, dataDir)).rejects.toThrow(/mode 0640/);

    chmodSync(files.adminKey, 0o600);
    const svc = await startTestService({}, dataDir);
    expect(svc.adminKey).toBe(key);
    await svc.stop();
  });

  it('refuses a file that does not hold a key as generated, without quoting it', async () => {
    for (const content of ['short\n', `sm_${'a'.repeat(42)}\n`, `sm_${'a'.repeat(43)}!\n`, 'x'.repeat(10_000), '\n']) {
      writeFileSync(files.adminKey, content, { mode: 0o600 });
      const err = await startTestService({}, dataDir).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message, content.slice(0, 10)).toMatch(/does not hold an admin key/);
      if (content.trim()) expect(err?.message).not.toContain(content.trim().slice(0, 8));
    }
  });
});
