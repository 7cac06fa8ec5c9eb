import { createReadStream, createWriteStream, statSync, type WriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { importRecords, type BeyondWindow, type ImportSummary, type Rejection } from './importer.js';
import { decompressed, readRecords, UsageError, type ImportFormat } from './records.js';
import { serverUrl } from '../server-url.js';

export const importUsage = `stripemeter import FILE|- [options]

Sends usage events from a file (or standard input, "-") to a running server's POST /v1/events/ingest.

Options:
      --format ndjson|csv|cloudevents  input format (default: csv for a .csv name, else ndjson)
      --errors FILE                    write each rejected line, with its reason, to FILE (JSON lines)
      --batch N                        events per request (default 5000, at most 10000)
      --concurrency N                  requests in flight (default 4)
      --url URL                        the server (default: $STRIPEMETER_URL or http://127.0.0.1:3000)
      --key KEY                        a key with the ingest scope (default: $STRIPEMETER_KEY)
  -h, --help                           this text

ndjson: one event per line, as POST /v1/events/ingest takes it. csv: a header row of event field names (tenantId,
metric, customerRef, resourceId, quantity, ts, idempotencyKey, source) and meta.<key> columns. cloudevents: one
CloudEvent per line. Gzip input is detected. Re-running an import is safe: events keep their idempotency keys, and an
event without one gets the key the service derives from its content, so nothing counts twice.

Exit status: 0 when every line was accepted or a duplicate, 1 when a line was rejected or the import stopped,
2 for a usage error.`;

export type ImportCliIo = {
  env: NodeJS.ProcessEnv;
  out: (text: string) => void;
  err: (text: string) => void;
  stdin: () => Readable;
  /** Whether stderr is a terminal: a progress line redrawn in place, else a plain line every 10 seconds. */
  tty: boolean;
  fetch: typeof fetch;
};

const defaultIo = (): ImportCliIo => ({
  env: process.env,
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  stdin: () => process.stdin,
  tty: process.stderr.isTTY === true,
  fetch: globalThis.fetch,
});

const formats = new Set<ImportFormat>(['ndjson', 'csv', 'cloudevents']);

/** `stripemeter import`: returns the exit status. */
export async function runImportCli(argv: string[], io: ImportCliIo = defaultIo()): Promise<number> {
  const usageError = (message: string) => {
    io.err(`stripemeter import: ${message}\n\n${importUsage}\n`);
    return 2;
  };
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        format: { type: 'string' },
        errors: { type: 'string' },
        batch: { type: 'string', default: '5000' },
        concurrency: { type: 'string', default: '4' },
        url: { type: 'string' },
        key: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    return usageError((e as Error).message);
  }
  const { values, positionals } = args;
  if (values.help) {
    io.out(`${importUsage}\n`);
    return 0;
  }
  if (positionals.length !== 1) return usageError('give one FILE, or - for standard input');
  const file = positionals[0]!;
  const format = (values.format ?? (/\.csv(\.gz)?$/i.test(file) ? 'csv' : 'ndjson')).toLowerCase() as ImportFormat;
  if (!formats.has(format)) return usageError(`--format must be ndjson, csv or cloudevents, not ${values.format}`);
  const batchSize = Number(values.batch);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) return usageError('--batch must be a whole number from 1 to 10000');
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) return usageError('--concurrency must be a whole number from 1 to 64');
  const key = values.key ?? io.env.STRIPEMETER_KEY;
  if (!key) return usageError('no API key: set STRIPEMETER_KEY or pass --key');
  const url = serverUrl(values.url, io.env);

  let input: Readable;
  let totalBytes: number | undefined;
  if (file === '-') {
    input = io.stdin();
  } else {
    try {
      const stat = statSync(file);
      if (!stat.isFile()) return usageError(`${file} is not a file`);
      totalBytes = stat.size;
    } catch (e) {
      return usageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    input = createReadStream(file, { highWaterMark: 256 * 1024 });
  }
  let bytesRead = 0;
  async function* counted(source: AsyncIterable<Buffer>) {
    for await (const chunk of source) {
      bytesRead += chunk.length;
      yield chunk;
    }
  }

  let errorsFile: WriteStream | undefined;
  if (values.errors) {
    const stream = createWriteStream(values.errors);
    const failed = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => stream.once('open', () => resolve(undefined)).once('error', resolve));
    if (failed) return usageError(`cannot write ${values.errors}: ${failed.code ?? failed.message}`);
    errorsFile = stream;
  }
  const reasons = new Map<string, number>();
  const onRejected = (r: Rejection) => {
    reasons.set(r.code, (reasons.get(r.code) ?? 0) + 1);
    const line = { line: r.line, code: r.code, message: r.message, ...(r.field ? { field: r.field } : {}), input: r.text };
    errorsFile?.write(`${JSON.stringify(line)}\n`);
  };

  const started = Date.now();
  const progress = new Progress(io, started, () => bytesRead, totalBytes);
  let summary: ImportSummary;
  try {
    summary = await importRecords(
      readRecords(decompressed(counted(input)), format),
      { url, key, format, batchSize, concurrency, fetch: io.fetch, onRejected },
      (s) => progress.update(s),
    );
  } catch (e) {
    progress.end();
    if (e instanceof UsageError) return usageError(e.message);
    io.err(`stripemeter import: ${(e as Error).message}\n`);
    return 1;
  } finally {
    input.destroy();
    if (errorsFile) await new Promise((r) => errorsFile!.end(r));
  }
  progress.end();

  const seconds = (Date.now() - started) / 1000;
  io.out(
    `${summary.read} lines in ${seconds.toFixed(1)} s (${Math.round(summary.read / Math.max(seconds, 0.001))}/s): ` +
      `${summary.accepted} accepted, ${summary.duplicates} duplicate, ${summary.rejected} rejected\n`,
  );
  if (summary.rejected > 0) {
    const byCode = [...reasons].map(([code, n]) => `${code} ${n}`).join(', ');
    io.out(`rejected: ${byCode}${values.errors ? `; each line and its reason is in ${values.errors}` : '; pass --errors FILE to keep each line and its reason'}\n`);
  }
  if (summary.beyondWindow.size > 0) io.out(replayAdvice(summary.beyondWindow));
  if (summary.aborted) {
    io.err(`stripemeter import: stopped: ${summary.aborted}\nLines after the last answered batch were not all sent; run the same import again (nothing counts twice).\n`);
    return 1;
  }
  return summary.rejected > 0 ? 1 : 0;
}

const replayMaxWindowMs = 92 * 24 * 3600_000;
const hourMs = 3600_000;

/** How many events landed beyond the lateness window and the replay applies that count them (README "Late events"). */
function replayAdvice(beyond: BeyondWindow): string {
  let events = 0;
  const commands: string[] = [];
  for (const [tenantId, b] of beyond) {
    events += b.events;
    const start = Math.floor(b.minTsMs / hourMs) * hourMs;
    const end = Math.floor(b.maxTsMs / hourMs) * hourMs + hourMs;
    // One replay covers at most REPLAY_MAX_WINDOW (92 days by default).
    for (let since = start; since < end; since += replayMaxWindowMs) {
      const request = {
        tenantId: tenantId ?? '<your tenant>',
        metrics: [...b.metrics].sort(),
        since: new Date(since).toISOString(),
        until: new Date(Math.min(since + replayMaxWindowMs, end)).toISOString(),
        mode: 'apply',
      };
      commands.push(
        `curl -sS -X POST "$STRIPEMETER_URL/v1/replay" -H "Authorization: Bearer $STRIPEMETER_KEY" -H 'content-type: application/json' \\\n  -d '${JSON.stringify(request).replaceAll("'", "'\\''")}'`,
      );
    }
  }
  return (
    `${events} events are older than the lateness window: stored but not counted until a replay counts them. ` +
    `Run (with an admin key; a dry-run first if you like, "mode":"dry-run"):\n${commands.join('\n')}\n`
  );
}

/** Progress on stderr: one line redrawn on a terminal, a plain line every 10 seconds otherwise. */
class Progress {
  private lastDraw: number;
  private drawn = false;
  constructor(
    private readonly io: ImportCliIo,
    private readonly started: number,
    private readonly bytesRead: () => number,
    private readonly totalBytes: number | undefined,
  ) {
    this.lastDraw = started;
  }

  update(s: ImportSummary): void {
    const now = Date.now();
    if (now - this.lastDraw < (this.io.tty ? 200 : 10_000)) return;
    this.lastDraw = now;
    const seconds = (now - this.started) / 1000;
    const done = s.accepted + s.duplicates + s.rejected;
    const rate = done / Math.max(seconds, 0.001);
    let share = '';
    let eta = '';
    if (this.totalBytes) {
      const fraction = Math.min(this.bytesRead() / this.totalBytes, 1);
      share = this.io.tty ? `${bar(fraction)} ${(fraction * 100).toFixed(0).padStart(3)}% ` : `${(fraction * 100).toFixed(0)}% `;
      if (fraction > 0) eta = ` eta ${duration(seconds / fraction - seconds)}`;
    }
    const text = `${share}${done} lines, ${Math.round(rate)}/s, ${s.rejected} rejected${eta}`;
    if (this.io.tty) {
      this.io.err(`\r${text}\x1b[K`);
      this.drawn = true;
    } else {
      this.io.err(`import: ${text}\n`);
    }
  }

  end(): void {
    if (this.drawn) this.io.err('\r\x1b[K');
  }
}

const bar = (fraction: number, width = 24) => {
  const full = Math.round(fraction * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
};

const duration = (seconds: number) => {
  const s = Math.max(0, Math.round(seconds));
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
};
