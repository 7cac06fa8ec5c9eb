/**
 * ClickHouse's own parse of a statement, read from `EXPLAIN AST`: one line per node, indented one space per level,
 * `Label [name] [(alias a)] [(children n)]`. The engine prints identifiers and aliases unescaped, so a quoted name
 * holding a line break can add lines of its own making. The reader therefore accepts a dump only when every line is
 * well formed and every node has exactly the children its line announces: added lines break that count (the counts
 * are the engine's), and a dump that does not add up is refused, never guessed at.
 */
export type AstNode = { label: string; name: string; alias: string | null; children: AstNode[] };

export class AstDumpError extends Error {}

const lineShape = /^( *)([A-Za-z][A-Za-z0-9_]*)(?: (.*?))?$/;
const childrenSuffix = / \(children (\d+)\)$/;
const aliasSuffix = / \(alias ([^()]*)\)$/;

type Line = { depth: number; label: string; name: string; alias: string | null; children: number };

function readLine(text: string): Line {
  const m = lineShape.exec(text);
  if (!m) throw new AstDumpError(`unreadable line in the parse: ${JSON.stringify(text.slice(0, 80))}`);
  let rest = m[3] ?? '';
  let children = 0;
  const c = childrenSuffix.exec(` ${rest}`);
  if (c) {
    children = Number(c[1]);
    rest = ` ${rest}`.slice(0, c.index).slice(1);
  }
  let alias: string | null = null;
  const a = aliasSuffix.exec(` ${rest}`);
  if (a) {
    alias = a[1]!;
    rest = ` ${rest}`.slice(0, a.index).slice(1);
  }
  return { depth: m[1]!.length, label: m[2]!, name: rest, alias, children };
}

/** The tree of one `EXPLAIN AST` dump; throws AstDumpError when the dump is not one consistent tree. */
export function readAstDump(dump: string): AstNode {
  const lines = dump.replace(/\n+$/, '').split('\n').map(readLine);
  let next = 0;
  const build = (depth: number): AstNode => {
    const line = lines[next++]!;
    if (line.depth !== depth) throw new AstDumpError('the parse is not one tree');
    const node: AstNode = { label: line.label, name: line.name, alias: line.alias, children: [] };
    for (let i = 0; i < line.children; i++) {
      if (next >= lines.length || lines[next]!.depth !== depth + 1) {
        throw new AstDumpError(`${line.label} announces ${line.children} children and has ${i}`);
      }
      node.children.push(build(depth + 1));
    }
    return node;
  };
  if (lines.length === 0) throw new AstDumpError('empty parse');
  const root = build(0);
  if (next !== lines.length) throw new AstDumpError('the parse has lines outside its tree');
  return root;
}

/** Every node of the tree, the root first. */
export function* walk(node: AstNode): Generator<AstNode> {
  yield node;
  for (const child of node.children) yield* walk(child);
}
