import { copyFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config.js';
import { event, startTestService, type TestService } from '../../../test/support/service.js';
import { keepClockAwayFromMonthStart } from '../../../test/support/clock.js';

keepClockAwayFromMonthStart();

// Dedupe through the key filter, across restarts: from its snapshot, from the snapshot plus the keys inserted since,
// and rebuilt from event_keys when the snapshot is missing or unreadable. The recent-keys map is off, so every
// duplicate below has to be found through the filter and a look-up in the engine.
const env = { INGEST_RECENT_KEYS: '0' };
let svc: TestService;
const snapshotFile = () => path.join(svc.dataDir, 'dedupe', 'key-filter.bin');

const ts = new Date(Date.now() - 3600_000).toISOString();
const batch = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => event({ metric: 'm_keys', customerRef: `cus_${i % 7}`, ts, idempotencyKey: `${prefix}-${i}` }));
const ingest = async (events: unknown[]) => {
  const r = await svc.request('POST', '/v1/events/ingest', { body: { events } });
  expect(r.status).toBe(200);
  return r.body as { accepted: number; duplicates: number; rejected: number };
};
const loaded = () => svc.logs.filter((l) => l.msg === 'ingest key filter loaded').at(-1) as Record<string, number | string>;
const dedupeAnswers = async () => {
  const text = (await svc.request('GET', '/metrics')).body as string;
  const value = (answer: string) => Number(new RegExp(`^ingest_dedupe_keys_total\\{answer="${answer}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { filter: value('filter'), lookup: value('lookup'), recent: value('recent') };
};
const total = async () => (await svc.request('GET', '/v1/usage?tenantId=demo&metric=m_keys')).body.total as string;

beforeAll(async () => {
  svc = await startTestService(env);
});
afterAll(async () => {
  await svc?.destroy();
});

describe('ingest key filter', () => {
  it('rules out fresh keys in memory and looks up only what it cannot rule out', async () => {
    expect(loaded()).toMatchObject({ mode: 'full', keysRead: 0 });
    const before = await dedupeAnswers();
    expect(await ingest(batch('a', 2000))).toMatchObject({ accepted: 2000, duplicates: 0 });
    const after = await dedupeAnswers();
    expect(after.filter - before.filter).toBeGreaterThanOrEqual(1990);
    expect(after.lookup - before.lookup).toBeLessThanOrEqual(10);
    expect(await ingest(batch('a', 2000))).toMatchObject({ accepted: 0, duplicates: 2000 });
    expect((await dedupeAnswers()).lookup - after.lookup).toBe(2000);
    expect(await ingest([event({ metric: 'm_keys', customerRef: 'cus_5', ts, quantity: 9, idempotencyKey: 'a-5' })])).toMatchObject({ accepted: 0, rejected: 1 });
    expect(await total()).toBe('2000');
  });

  it('starts from its snapshot and still knows every key', async () => {
    svc = await svc.restart();
    expect(loaded()).toMatchObject({ mode: 'snapshot', keys: 2000 });
    expect(await ingest(batch('a', 2000))).toMatchObject({ accepted: 0, duplicates: 2000 });
    expect(await ingest(batch('b', 500))).toMatchObject({ accepted: 500 });
  });

  it('reads back the keys inserted after its snapshot was taken', async () => {
    const older = `${snapshotFile()}.older`;
    copyFileSync(snapshotFile(), older);
    expect(await ingest(batch('c', 700))).toMatchObject({ accepted: 700 });
    await svc.deps.writer.close();
    // As after a kill -9: the snapshot on disk predates the last keys.
    const stopped = svc;
    svc = await (async () => {
      await stopped.stop();
      copyFileSync(older, snapshotFile());
      return startTestService(env, stopped.dataDir);
    })();
    expect(loaded()).toMatchObject({ mode: 'snapshot', keys: 3200 });
    expect(Number(loaded().keysRead)).toBeGreaterThanOrEqual(700);
    expect(await ingest(batch('c', 700))).toMatchObject({ accepted: 0, duplicates: 700 });
  });

  it('rebuilds from event_keys when the snapshot is missing or unreadable', async () => {
    await svc.stop();
    rmSync(snapshotFile());
    svc = await startTestService(env, svc.dataDir);
    expect(loaded()).toMatchObject({ mode: 'full', keysRead: 3200, keys: 3200 });
    expect(await ingest([...batch('a', 300), ...batch('b', 300), ...batch('d', 10)])).toMatchObject({ accepted: 10, duplicates: 600 });
    await svc.stop();
    writeFileSync(snapshotFile(), 'not a snapshot');
    svc = await startTestService(env, svc.dataDir);
    expect(loaded()).toMatchObject({ mode: 'full', keys: 3210 });
    expect(svc.logText()).toContain('key filter snapshot unreadable');
    expect(await ingest(batch('d', 10))).toMatchObject({ duplicates: 10 });
    expect(existsSync(snapshotFile())).toBe(true);
    expect(await total()).toBe('3210');
  });

  it('with the filter off, looks every key up in the engine', async () => {
    await svc.stop();
    svc = await startTestService({ ...env, INGEST_KEY_FILTER: 'off' }, svc.dataDir);
    const before = await dedupeAnswers();
    expect(await ingest([...batch('a', 100), ...batch('e', 100)])).toMatchObject({ accepted: 100, duplicates: 100 });
    expect((await dedupeAnswers()).lookup - before.lookup).toBe(200);
  });

  it('keeps tenants apart and finds odd keys (newline, non-ASCII, 255 characters) after a restart', async () => {
    await svc.stop();
    svc = await startTestService(env, svc.dataDir);
    expect((await svc.request('POST', '/v1/admin/tenants', { body: { id: 'other' } })).status).toBeLessThan(300);
    const odd = ['line\nbreak', 'clé-日本-🎉', 'k'.repeat(255), 'shared-key'];
    const events = (tenantId: string) => odd.map((key) => event({ tenantId, metric: 'm_keys', customerRef: 'cus_odd', ts, idempotencyKey: key }));
    // The same keys under two tenants are two events each.
    expect(await ingest(events('demo'))).toMatchObject({ accepted: 4, duplicates: 0 });
    expect(await ingest(events('other'))).toMatchObject({ accepted: 4, duplicates: 0 });
    await svc.stop();
    svc = await startTestService(env, svc.dataDir);
    expect(loaded()).toMatchObject({ mode: 'snapshot' });
    expect(await ingest(events('demo'))).toMatchObject({ accepted: 0, duplicates: 4 });
    expect(await ingest(events('other'))).toMatchObject({ accepted: 0, duplicates: 4 });
  });

  it('refuses bad key filter settings at start, naming the variable', () => {
    for (const [name, value] of [['INGEST_KEY_FILTER', 'maybe'], ['INGEST_RECENT_KEYS', '-1'], ['INGEST_RECENT_KEYS', '1e9'], ['INGEST_KEY_SNAPSHOT_INTERVAL', 'PT0S'], ['INGEST_KEY_SNAPSHOT_INTERVAL', '5 minutes']]) {
      expect(() => loadConfig({ [name!]: value })).toThrow(ConfigError);
      expect(() => loadConfig({ [name!]: value })).toThrow(name!);
    }
  });
});
