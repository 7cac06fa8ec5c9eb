import { describe, expect, it } from 'vitest';
import { readMigrations } from './migrations.js';
import { renderMigration, renderStatement, splitStatements } from './render.js';

const migrations = readMigrations();
const cluster = (sql: string) => renderMigration(sql, { cluster: 'main' });
const single = (sql: string) => renderMigration(sql, {});
const withoutComments = (s: string) => s.replace(/--.*$/gm, '').trim();
const allCluster = migrations.flatMap((m) => cluster(m.sql).map((s) => ({ file: m.name, s })));

/** Tables whose data is split across shards: the ones created through a {{local:name}} token. */
const sharded = new Set(
  migrations.flatMap((m) => [...m.sql.matchAll(/CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?\{\{local:(\w+)\}\}/gi)].map((x) => x[1]!)),
);
const createdName = (s: string) =>
  /CREATE\s+(?:OR\s+REPLACE\s+)?(?:TABLE|MATERIALIZED\s+VIEW|VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?`?(\w+)`?/i.exec(withoutComments(s))?.[1];

describe('migration sources', () => {
  it('split into whole CREATE, ALTER, INSERT, TRUNCATE, EXCHANGE or DROP TABLE statements (no comment or string cuts one in two)', () => {
    for (const m of migrations) {
      const statements = splitStatements(m.sql);
      expect(statements.length, m.name).toBeGreaterThan(0);
      for (const s of statements) expect(withoutComments(s), `${m.name}: ${s.slice(0, 80)}`).toMatch(/^(CREATE\s|ALTER TABLE\s|INSERT INTO\s|TRUNCATE TABLE\s|EXCHANGE TABLES\s|DROP TABLE\s|\{\{distributed:)/);
    }
  });

  it('shard events and both usage counters', () => {
    for (const name of ['events', 'usage_hourly_counters', 'usage_period_counters']) expect(sharded).toContain(name);
  });
});

describe('cluster rendering (CLICKHOUSE_CLUSTER=main)', () => {
  it('puts ON CLUSTER `main` on every DDL statement and leaves no token behind', () => {
    expect(allCluster.length).toBeGreaterThan(migrations.length);
    for (const { file, s } of allCluster) {
      expect(s, file).not.toContain('{{');
      // A data statement runs once, on one node, through the Distributed tables (plain names).
      if (/^INSERT INTO\s/.test(withoutComments(s))) {
        expect(s, file).not.toMatch(/_local\b/);
        continue;
      }
      expect(withoutComments(s), file).toMatch(/^(CREATE|ALTER TABLE|TRUNCATE TABLE|EXCHANGE TABLES|DROP TABLE)\s/);
      const header = withoutComments(s).split('(')[0]!.split('\n')[0]!;
      expect(header, `${file}: ${header}`).toMatch(/ ON CLUSTER `main`/);
      expect(s, file).not.toContain('{{');
      expect(s, file).not.toContain('}}');
    }
  });

  it('makes every MergeTree engine Replicated: sharded tables per {shard}, the rest on all nodes', () => {
    let engines = 0;
    for (const { file, s } of allCluster) {
      const name = createdName(s)!;
      for (const [, engine] of s.matchAll(/ENGINE\s*=\s*(\w+)/g)) {
        // Distributed tables route to the shards; replay_cells is each node's own scratch memory (migration 0016).
        if (engine === 'Distributed' || engine === 'Memory') continue;
        engines++;
        expect(engine, `${file} ${name}`).toMatch(/^Replicated\w*MergeTree$/);
        const isShardPart = name.endsWith('_local') && sharded.has(name.slice(0, -'_local'.length));
        const zkPath = isShardPart ? '/clickhouse/tables/{shard}/{database}/{table}' : '/clickhouse/tables/all/{database}/{table}';
        expect(s, `${file} ${name}`).toContain(`ENGINE = ${engine}('${zkPath}', '{replica}'`);
      }
    }
    expect(engines).toBeGreaterThanOrEqual(5);
  });

  it('renders the exact engines of events and the counters (arguments kept after the replication ones)', () => {
    const find = (name: string) => allCluster.find((x) => createdName(x.s) === name)?.s ?? '';
    expect(find('events_local')).toContain(
      "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', ingested_at)",
    );
    for (const t of ['usage_hourly_counters_local', 'usage_period_counters_local']) {
      expect(find(t)).toContain(
        "ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', (quantity, events))",
      );
    }
    expect(find('tenants')).toContain("ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/{database}/{table}', '{replica}', updated_at)");
    expect(find('api_keys')).toContain("ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/{database}/{table}', '{replica}', updated_at)");
  });

  it('puts a Distributed table sharded by cityHash64(tenant_id) in front of each sharded table', () => {
    for (const name of sharded) {
      const dist = allCluster.filter((x) => createdName(x.s) === name).map((x) => x.s);
      expect(dist, name).toEqual([
        `CREATE TABLE IF NOT EXISTS ${name} ON CLUSTER \`main\` AS ${name}_local\n` +
          `ENGINE = Distributed(\`main\`, currentDatabase(), ${name}_local, cityHash64(tenant_id))`,
      ]);
      // The per-shard part exists and is created before the Distributed table that reads it.
      const names = allCluster.map((x) => createdName(x.s));
      expect(names.indexOf(`${name}_local`), name).toBeGreaterThanOrEqual(0);
      expect(names.indexOf(`${name}_local`)).toBeLessThan(names.indexOf(name));
    }
  });

  it('has materialized views read events_local and write the *_local counters', () => {
    const views = allCluster.filter((x) => /CREATE\s+MATERIALIZED\s+VIEW/i.test(x.s));
    expect(views.map((v) => createdName(v.s))).toEqual(
      expect.arrayContaining(['usage_hourly_counters_mv_events', 'usage_period_counters_mv_events']),
    );
    for (const { s } of views) {
      const to = /\bTO\s+(\w+)/.exec(s)?.[1];
      const from = /\bFROM\s+(\w+)/.exec(s)?.[1];
      // A view fires on inserts into the shard part it reads, and must write the shard part next to it.
      if (from && sharded.has(from.replace(/_local$/, ''))) expect(from).toBe(`${from.replace(/_local$/, '')}_local`);
      if (to && sharded.has(to.replace(/_local$/, ''))) expect(to).toBe(`${to.replace(/_local$/, '')}_local`);
    }
    const hourly = views.find((v) => createdName(v.s) === 'usage_hourly_counters_mv_events')!.s;
    expect(hourly).toMatch(/\bTO usage_hourly_counters_local AS\b/);
    expect(hourly).toMatch(/\bFROM events_local\b/);
    const period = views.find((v) => createdName(v.s) === 'usage_period_counters_mv_events')!.s;
    expect(period).toMatch(/\bTO usage_period_counters_local AS\b/);
    expect(period).toMatch(/\bFROM events_local\b/);
  });

  it('never creates a sharded table under its plain name with a MergeTree engine', () => {
    for (const { s } of allCluster) {
      const name = createdName(s)!;
      if (sharded.has(name)) expect(s).toMatch(/ENGINE = Distributed\(/);
    }
  });
});

describe('ALTER statements', () => {
  it('alter the per-shard tables on a cluster and the plain ones on a single node', () => {
    const m = migrations.find((x) => x.name === 'add_time_projections')!;
    const onCluster = cluster(m.sql);
    expect(onCluster.length).toBeGreaterThan(0);
    for (const s of onCluster) expect(withoutComments(s)).toMatch(/^ALTER TABLE (events|usage_hourly_counters)_local ON CLUSTER `main`\s/);
    for (const s of single(m.sql)) expect(withoutComments(s)).toMatch(/^ALTER TABLE (events|usage_hourly_counters)\s/);
  });
});

describe('single-node rendering', () => {
  const all = migrations.flatMap((m) => single(m.sql));

  it('has no tokens, no ON CLUSTER, no Replicated, no Distributed, no _local tables', () => {
    expect(all.length).toBeGreaterThan(0);
    for (const s of all) {
      expect(s).not.toContain('{{');
      expect(s).not.toMatch(/ON CLUSTER/i);
      expect(s).not.toMatch(/Replicated/);
      expect(s).not.toMatch(/Distributed/);
      expect(s).not.toMatch(/\w+_local\b/);
    }
  });

  it('creates the sharded tables under their plain names with their own engines', () => {
    const find = (name: string) => all.find((s) => createdName(s) === name) ?? '';
    expect(find('events')).toContain('ENGINE = ReplacingMergeTree(ingested_at)');
    expect(find('usage_hourly_counters')).toContain('ENGINE = SummingMergeTree((quantity, events))');
    expect(find('usage_period_counters_mv_events')).toMatch(/TO usage_period_counters AS[\s\S]*FROM events\b/);
    // The Distributed statements are dropped, so each table is created exactly once (a view may be replaced).
    const names = all.filter((s) => !/CREATE OR REPLACE VIEW/.test(s)).map(createdName).filter((n) => n !== undefined);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe('renderStatement', () => {
  it('rewrites engines without arguments and keeps other clauses', () => {
    expect(renderStatement('CREATE TABLE t {{on_cluster}} (a UInt8) ENGINE = MergeTree ORDER BY a', { cluster: 'c1' })).toBe(
      "CREATE TABLE t ON CLUSTER `c1` (a UInt8) ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{database}/{table}', '{replica}') ORDER BY a",
    );
    expect(renderStatement('CREATE TABLE t {{on_cluster}} (a UInt8) ENGINE = MergeTree() ORDER BY a', { cluster: 'c1' })).toBe(
      "CREATE TABLE t ON CLUSTER `c1` (a UInt8) ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{database}/{table}', '{replica}') ORDER BY a",
    );
    expect(renderStatement('CREATE TABLE t {{on_cluster}} (a UInt8) ENGINE = MergeTree ORDER BY a', {})).toBe(
      'CREATE TABLE t  (a UInt8) ENGINE = MergeTree ORDER BY a',
    );
  });

  it('drops a distributed token on a single node', () => {
    expect(renderStatement('{{distributed:events:cityHash64(tenant_id)}}', {})).toBeNull();
    expect(renderStatement('{{distributed:events:rand()}}', { cluster: 'x' })).toBe(
      'CREATE TABLE IF NOT EXISTS events ON CLUSTER `x` AS events_local\nENGINE = Distributed(`x`, currentDatabase(), events_local, rand())',
    );
  });
});
