export type TableColumn = { name: string; type: string };

const numeric = /^(Nullable\()?(U?Int\d+|Float\d+|Decimal\d*(\(.*\))?)\)?$/;

/** One cell as text on one line: NULL for null, JSON for arrays, maps and tuples, control characters escaped. */
export function cellText(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  const text = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t');
}

/**
 * An aligned text table in the style of psql: a header, a rule, one line per row (numbers right-aligned), and a
 * `(N rows)` footer.
 */
export function formatTable(columns: TableColumn[], rows: unknown[][]): string {
  const cells = rows.map((r) => columns.map((_, i) => cellText(r[i])));
  const widths = columns.map((c, i) => Math.max(c.name.length, ...cells.map((r) => r[i]!.length)));
  const right = columns.map((c) => numeric.test(c.type));
  const line = (values: string[], header: boolean) =>
    values
      .map((v, i) => ` ${!header && right[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)} `)
      .join('|')
      .trimEnd();
  const out = [line(columns.map((c) => c.name), true), widths.map((w) => '-'.repeat(w + 2)).join('+')];
  for (const r of cells) out.push(line(r, false));
  out.push(`(${rows.length} ${rows.length === 1 ? 'row' : 'rows'})`);
  return `${out.join('\n')}\n`;
}
