import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { openStorage, roles, type Storage } from './client.js';

let dir: string;
let storage: Storage;
beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'stripemeter-client-'));
  storage = await openStorage(loadConfig({ STRIPEMETER_DATA_DIR: dir }));
});
afterAll(async () => {
  await storage?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('embedded connections', () => {
  it("never hand a failed query's partial output to the next query", async () => {
    for (const role of roles) {
      const client = storage[role];
      // Fails after producing a good part of its rows (on the analyst connection, at its result row limit).
      await expect(client.query({ query: 'SELECT number, throwIf(number = 200000) FROM numbers(300000)', format: 'JSONEachRow' })).rejects.toThrow();
      const rs = await client.query({ query: "SELECT 'next' AS v", format: 'JSONEachRow' });
      expect(await rs.json(), role).toEqual([{ v: 'next' }]);
    }
  });

  it('keep per-role sessions apart: only the analyst connection is read-only', async () => {
    for (const role of roles) {
      const rs = await storage[role].query({ query: "SELECT getSetting('readonly') AS ro", format: 'JSONEachRow' });
      expect(Number(((await rs.json()) as Array<{ ro: string | number }>)[0]!.ro), role).toBe(role === 'analyst' ? 1 : 0);
    }
  });
});
