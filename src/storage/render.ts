/**
 * One canonical migration source, rendered for a single node or a cluster.
 *
 * Tokens in migrations/*.sql:
 *   {{on_cluster}}            -> ''                  | ON CLUSTER `c`
 *   {{local:name}}            -> name                | name_local   (a sharded table's per-shard part)
 *   {{distributed:name:key}}  -> (statement dropped) | CREATE TABLE name AS name_local ENGINE = Distributed(c, db, name_local, key)
 *   ENGINE = <X>MergeTree(a)  -> unchanged           | Replicated<X>MergeTree('/clickhouse/tables/{shard|all}/{database}/{table}', '{replica}', a)
 *   {{include:views/x.sql}}   -> the file's text, inlined before rendering by readMigrations (migrations.ts)
 * Sharded tables replicate within their shard; every other table is replicated to all nodes.
 */
export type RenderTarget = { cluster?: string | undefined };

const distributedStatement = /^\s*\{\{distributed:([A-Za-z_][A-Za-z0-9_]*):(.+)\}\}\s*$/s;

export function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter((s) => s.replace(/--.*$/gm, '').trim().length > 0);
}

export function renderStatement(statement: string, target: RenderTarget): string | null {
  const cluster = target.cluster;
  const dist = distributedStatement.exec(statement);
  if (dist) {
    if (!cluster) return null;
    const [, name, key] = dist;
    return (
      `CREATE TABLE IF NOT EXISTS ${name} ON CLUSTER \`${cluster}\` AS ${name}_local\n` +
      `ENGINE = Distributed(\`${cluster}\`, currentDatabase(), ${name}_local, ${key!.trim()})`
    );
  }
  const sharded = /CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?\{\{local:/i.test(statement);
  let out = statement
    .replace(/\{\{on_cluster\}\}/g, cluster ? `ON CLUSTER \`${cluster}\`` : '')
    .replace(/\{\{local:([A-Za-z_][A-Za-z0-9_]*)\}\}/g, (_, name: string) => (cluster ? `${name}_local` : name));
  if (cluster) {
    out = out.replace(/ENGINE\s*=\s*(\w*)MergeTree(?:\(([^)]*)\))?/g, (_, kind: string, args: string | undefined) => {
      const zkPath = `'/clickhouse/tables/${sharded ? '{shard}' : 'all'}/{database}/{table}'`;
      const rest = args && args.trim() ? `, ${args.trim()}` : '';
      return `ENGINE = Replicated${kind}MergeTree(${zkPath}, '{replica}'${rest})`;
    });
  }
  return out.replace(/[ \t]+$/gm, '');
}

export function renderMigration(sql: string, target: RenderTarget): string[] {
  // {{include:file}} lines are inlined by readMigrations (migrations.ts) before rendering: one left here is a bug.
  if (sql.includes('{{include:')) throw new Error('render the migration after expanding its {{include:...}} lines (expandIncludes)');
  return splitStatements(sql)
    .map((s) => renderStatement(s, target))
    .filter((s): s is string => s !== null);
}
