import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyHashes } from './key-hash.js';
import { openTestStorage, type TestStorage } from '../../../test/support/storage.js';

let storage: TestStorage;
beforeAll(async () => {
  storage = await openTestStorage('keyhash');
});
afterAll(async () => {
  await storage?.destroy();
});

describe('keyHashes', () => {
  it("equals the engine's murmurHash3_32 and xxHash32 (the filter is rebuilt from the engine's hashes)", async () => {
    const keys = ['', 'a', 'ab', 'abc', 'abcd', '0123456789abcdef', '0123456789abcdef0', 'héllo wörld', '日本語のキー', 'emoji 🎉 key',
      'line\nbreak', 'x'.repeat(255), '€'.repeat(255), ...Array.from({ length: 200 }, (_, i) => `cus_${i}-${'k'.repeat(i % 40)}-${i * 7919}`)];
    const rs = await storage.api.query({
      query: 'SELECT murmurHash3_32(k) AS a, xxHash32(k) AS b FROM (SELECT arrayJoin({keys:Array(String)}) AS k)',
      query_params: { keys },
      format: 'JSONCompactEachRow',
    });
    const engine = (await rs.json<[number, number]>()).map(([a, b]) => [Number(a), Number(b)]);
    expect(keys.map(keyHashes)).toEqual(engine);
  });
});
