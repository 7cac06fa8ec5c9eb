import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { formatTable, type TableColumn } from './table.js';
import { serverUrl } from '../server-url.js';

export const sqlUsage = `stripemeter sql "SELECT ..." [options]

Runs one read-only query through a running server's POST /v1/sql and prints the result.

Options:
  -f, --format table|csv|tsv|json   output (default: table)
  -p, --param name=value            a query parameter {name:Type}; repeat for more
      --url URL                     the server (default: $STRIPEMETER_URL or http://127.0.0.1:3000)
      --key KEY                     an analyst key (scope sql) or the admin key (default: $STRIPEMETER_KEY)
  -h, --help                        this text

The query "-" is read from standard input. Exit status: 0 on success, 1 when the server refused or failed the
query (its message on stderr), 2 for a usage error.`;

export type SqlCliIo = {
  env: NodeJS.ProcessEnv;
  out: (text: string) => void;
  err: (text: string) => void;
  stdin: () => string;
  fetch: typeof fetch;
};

const defaultIo = (): SqlCliIo => ({
  env: process.env,
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  stdin: () => readFileSync(0, 'utf8'),
  fetch: globalThis.fetch,
});

const formats = { table: 'JSON', json: 'JSON', csv: 'CSV', tsv: 'TSV' } as const;

/** `stripemeter sql`: returns the exit status. */
export async function runSqlCli(argv: string[], io: SqlCliIo = defaultIo()): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        format: { type: 'string', short: 'f', default: 'table' },
        param: { type: 'string', short: 'p', multiple: true, default: [] },
        url: { type: 'string' },
        key: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    io.err(`stripemeter sql: ${(e as Error).message}\n\n${sqlUsage}\n`);
    return 2;
  }
  const { values, positionals } = args;
  if (values.help) {
    io.out(`${sqlUsage}\n`);
    return 0;
  }
  const usageError = (message: string) => {
    io.err(`stripemeter sql: ${message}\n\n${sqlUsage}\n`);
    return 2;
  };
  if (positionals.length !== 1) return usageError('give the query as one argument (quote it), or - to read it from stdin');
  const output = values.format.toLowerCase();
  if (!(output in formats)) return usageError(`--format must be table, csv, tsv or json, not ${values.format}`);
  const params: Record<string, string> = {};
  for (const p of values.param) {
    const eq = p.indexOf('=');
    if (eq <= 0) return usageError(`--param takes name=value, not ${p}`);
    params[p.slice(0, eq)] = p.slice(eq + 1);
  }
  const key = values.key ?? io.env.STRIPEMETER_KEY;
  if (!key) return usageError('no API key: set STRIPEMETER_KEY or pass --key');
  const base = serverUrl(values.url, io.env);
  const query = positionals[0] === '-' ? io.stdin() : positionals[0]!;

  let res: Response;
  try {
    res = await io.fetch(`${base}/v1/sql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query, format: formats[output as keyof typeof formats], params }),
    });
  } catch (e) {
    const cause = (e as { cause?: { message?: string } }).cause?.message;
    io.err(`stripemeter sql: cannot reach ${base}: ${cause ?? (e as Error).message}\n`);
    return 1;
  }
  const text = await res.text();
  if (!res.ok) {
    let message = text.trim() || res.statusText;
    try {
      const body = JSON.parse(text) as { error?: { code?: string; message?: string; issues?: Array<{ path: string; message: string }> } };
      if (body.error) {
        const issues = (body.error.issues ?? []).map((i) => `\n  ${i.path || '(body)'}: ${i.message}`).join('');
        message = `${body.error.code}: ${body.error.message}${issues}`;
      }
    } catch {
      // not JSON: the raw text
    }
    io.err(`stripemeter sql: ${res.status} ${message}\n`);
    return 1;
  }
  if (output === 'csv' || output === 'tsv') {
    io.out(text);
    return 0;
  }
  const body = JSON.parse(text) as { columns: TableColumn[]; rows: unknown[][]; rowCount: number; elapsedMs: number };
  io.out(output === 'json' ? `${JSON.stringify(body, null, 2)}\n` : formatTable(body.columns, body.rows));
  return 0;
}
