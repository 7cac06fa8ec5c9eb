/** A fenced `bash` block of a markdown page, with the `##`/`###` heading it sits under. */
export type Block = { section: string; code: string };

/** The page's `bash` blocks, in order (other fences, such as `sh`, are left out). */
export function bashBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  let section = '';
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const heading = /^#{2,3} (.+)$/.exec(lines[i]!);
    if (heading) section = heading[1]!;
    if (lines[i] === '```bash') {
      const code: string[] = [];
      for (i++; lines[i] !== '```'; i++) code.push(lines[i]!);
      blocks.push({ section, code: code.join('\n') });
    }
  }
  return blocks;
}

/** The JSON documents a block printed with `jq` (pretty or `-c`), in order. */
export function jsonOutputs(stdout: string): any[] {
  const out: any[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < stdout.length; i++) {
    const c = stdout[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"' && depth > 0) inString = true;
    else if ((c === '{' || c === '[') && (depth > 0 || i === 0 || stdout[i - 1] === '\n')) {
      // jq prints each document from the start of a line; braces inside other lines (metric labels) are not JSON.
      if (depth === 0) start = i;
      depth++;
    } else if ((c === '}' || c === ']') && depth > 0 && --depth === 0) {
      out.push(JSON.parse(stdout.slice(start, i + 1)));
    }
  }
  return out;
}
