import type { AstNode } from './ast.js';
import { AnalystSqlError } from './errors.js';
import { analystTables, analystViews, type AnalystPolicy } from './policy.js';

/** What analysts may send, as the engine's parser names it (the root of `EXPLAIN AST`). */
const statements = new Set(['SelectWithUnionQuery', 'SelectIntersectExceptQuery', 'DescribeQuery', 'Explain']);
const explainKinds = new Set(['EXPLAIN', 'EXPLAIN AST', 'EXPLAIN SYNTAX', 'EXPLAIN PLAN', 'EXPLAIN PIPELINE', 'EXPLAIN QUERY TREE', 'EXPLAIN ESTIMATE']);

/**
 * The parts of a SELECT the guard knows. A construct not listed here is refused until someone looks at what it does:
 * an allow-list, so a new engine version's syntax cannot slip through unexamined.
 */
const knownNodes = new Set([
  ...statements,
  'ExpressionList',
  'SelectQuery',
  'Identifier',
  'Literal',
  'Function',
  'Subquery',
  'WithElement',
  'TablesInSelectQuery',
  'TablesInSelectQueryElement',
  'TableExpression',
  'TableIdentifier',
  'TableJoin',
  'ArrayJoin',
  'SampleRatio',
  'Asterisk',
  'QualifiedAsterisk',
  'ColumnsRegexpMatcher',
  'ColumnsListMatcher',
  'QualifiedColumnsRegexpMatcher',
  'QualifiedColumnsListMatcher',
  'ColumnsTransformerList',
  'ColumnsExceptTransformer',
  'ColumnsReplaceTransformer',
  'ColumnsReplaceTransformerReplacement',
  'ColumnsApplyTransformer',
  'OrderByElement',
  'InterpolateElement',
  'WindowDefinition',
  'WindowListElement',
  'DataType',
  'NameTypePair',
  'ColumnDeclaration',
  'Set',
]);

const plainName = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$/;
const readList = `analysts read the views ${analystViews.join(', ')} and the tables ${analystTables.join(', ')}`;
const refuse = (message: string) => new AnalystSqlError('sql_refused', message);

/**
 * Decides on the engine's own parse of one statement whether an analyst may run it: a SELECT (WITH, UNION,
 * subqueries), DESCRIBE or EXPLAIN of one, reading only the analyst views and tables, calling only functions that
 * compute from their arguments. `kind` is the statement's first keyword, for the message when it is refused.
 */
export function checkStatement(root: AstNode, policy: AnalystPolicy, kind: string): AnalystSqlError | null {
  if (!statements.has(root.label)) {
    if (kind === 'SET') return refuse('analyst SQL cannot change settings: SET is refused (the service sets the limits)');
    return refuse(`analyst SQL is read-only: ${kind || 'this'} statements are refused; send one SELECT (WITH, UNION and subqueries are fine), DESCRIBE TABLE or EXPLAIN statement`);
  }
  if (root.label === 'SelectWithUnionQuery' && root.children.length !== 1) {
    return refuse('analyst SQL writes no file and picks no format: remove the FORMAT or INTO OUTFILE clause (the request\'s "format", JSON, CSV or TSV, chooses the output)');
  }
  return checkNode(root, null, policy);
}

function checkNode(node: AstNode, parent: AstNode | null, policy: AnalystPolicy): AnalystSqlError | null {
  const refusal = checkOne(node, parent, policy);
  if (refusal) return refusal;
  for (const child of node.children) {
    const r = checkNode(child, node, policy);
    if (r) return r;
  }
  return null;
}

function checkOne(node: AstNode, parent: AstNode | null, policy: AnalystPolicy): AnalystSqlError | null {
  if (!knownNodes.has(node.label)) return refuse(`analyst SQL does not support this construct (${node.label})`);
  switch (node.label) {
    case 'Explain':
      if (parent !== null || !explainKinds.has(node.name)) return refuse(`analyst SQL does not run ${node.name || 'this EXPLAIN'}`);
      if (!node.children.some((c) => c.label === 'SelectWithUnionQuery' || c.label === 'SelectIntersectExceptQuery')) {
        return refuse('analyst SQL explains SELECT statements only');
      }
      return null;
    case 'SelectWithUnionQuery':
    case 'SelectIntersectExceptQuery':
    case 'DescribeQuery':
      // A statement inside another only as EXPLAIN's subject or as a subquery's body.
      if (parent !== null && !['Explain', 'Subquery', 'SelectWithUnionQuery', 'SelectIntersectExceptQuery', 'ExpressionList'].includes(parent.label)) {
        return refuse(`analyst SQL does not support this construct (${node.label} in ${parent.label})`);
      }
      if (node.label === 'DescribeQuery' && parent !== null) return refuse('analyst SQL describes tables only at the top level');
      return null;
    case 'Set':
      // EXPLAIN's own options (indexes = 1) are not settings; a SETTINGS clause is.
      if (parent?.label === 'Explain') return null;
      return refuse('analyst SQL cannot change settings: a SETTINGS clause is refused (the service sets the limits)');
    case 'Function': {
      const name = node.name;
      if (!plainName.test(name)) return refuse(`analyst SQL does not allow the function ${JSON.stringify(name)}`);
      if (parent?.label === 'TableExpression') {
        if (policy.tableFunctionAllowed(name)) return null;
        return refuse(`analyst SQL does not allow the table function ${name}(): ${readList}, and make rows with replay_window_cells(), numbers(), zeros(), generate_series() and values()`);
      }
      if (policy.functionAllowed(name) || policy.tableFunctionAllowed(name)) return null;
      return refuse(`analyst SQL does not allow the function ${name}(): analysts call functions that compute from their arguments, never ones that read files, the network, settings or other tables`);
    }
    case 'TableIdentifier':
      if (plainName.test(node.name) && policy.tableReadable(node.name)) return null;
      return refuse(`analyst SQL does not read ${node.name}: ${readList}`);
    case 'Identifier':
      if (policy.namesForbiddenTable(node.name)) {
        return refuse(`analyst SQL does not read ${node.name}: ${readList}`);
      }
      return null;
    default:
      return null;
  }
}

/** The statement's first keyword as ClickHouse's formatter writes it (`SELECT`, `INSERT`, `SYSTEM`...), for messages. */
export function statementKind(canonical: string): string {
  return /^[\s(]*([A-Za-z]+)/.exec(canonical)?.[1]?.toUpperCase() ?? '';
}
