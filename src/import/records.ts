import { createGunzip } from 'node:zlib';

export type ImportFormat = 'ndjson' | 'csv' | 'cloudevents';

/** What the server needs of a line for the summary's replay command when it lands beyond the lateness window. */
export type RecordInfo = { tenantId: string | null; metric: string; tsMs: number };

/** One input record: its JSON text to send, or why it cannot be sent. `line` is where it starts (1-based). */
export type InputRecord =
  | { line: number; text: string; json: string; info: RecordInfo | null }
  | { line: number; text: string; error: { code: string; message: string } };

/** A line longer than this cannot fit a request (the service's body limit is 5 MiB). */
export const maxLineBytes = 4 * 1024 * 1024;

const eventFields = new Set(['tenantId', 'metric', 'customerRef', 'resourceId', 'quantity', 'ts', 'idempotencyKey', 'source']);

export class UsageError extends Error {}

/** The stream, inflated when it starts with gzip's magic bytes (a `.gz` name is not trusted, nor needed). */
export async function* decompressed(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const iterator = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let head = Buffer.alloc(0);
  for (let r; head.length < 2 && !(r = await iterator.next()).done; ) head = Buffer.concat([head, r.value]);
  if (head.length === 0) return;
  async function* rest() {
    yield head;
    for (let r = await iterator.next(); !r.done; r = await iterator.next()) yield r.value;
  }
  if (head[0] === 0x1f && head[1] === 0x8b) {
    const gunzip = createGunzip();
    const feed = (async () => {
      try {
        for await (const chunk of rest()) if (!gunzip.write(chunk)) await new Promise((r) => gunzip.once('drain', r));
        gunzip.end();
      } catch (err) {
        gunzip.destroy(err as Error);
      }
    })();
    yield* gunzip as AsyncIterable<Buffer>;
    await feed;
  } else {
    yield* rest();
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Lines as text, decoded strictly (bytes that are not UTF-8 are that line's error, not U+FFFD), `\r\n` or `\n`. */
async function* lines(chunks: AsyncIterable<Buffer>): AsyncGenerator<{ line: number; text: string; error?: string }> {
  let carry: Buffer[] = [];
  let carried = 0;
  let tooLong = false;
  let line = 0;
  const emit = (bytes: Buffer) => {
    line++;
    if (tooLong) return { line, text: '', error: `line over ${maxLineBytes} bytes` };
    const end = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.length - 1 : bytes.length;
    try {
      return { line, text: utf8.decode(bytes.subarray(0, end)) };
    } catch {
      return { line, text: bytes.subarray(0, Math.min(end, 200)).toString('latin1'), error: 'line is not valid UTF-8' };
    }
  };
  for await (const chunk of chunks) {
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, nl);
      const bytes = carried > 0 ? Buffer.concat([...carry, piece]) : piece;
      yield emit(bytes);
      carry = [];
      carried = 0;
      tooLong = false;
      start = nl + 1;
    }
    const rest = chunk.subarray(start);
    if (rest.length > 0 && !tooLong) {
      carry.push(Buffer.from(rest));
      carried += rest.length;
      // A line longer than a request can hold is dropped as it streams in, so memory stays bounded.
      if (carried > maxLineBytes) {
        tooLong = true;
        carry = [];
        carried = 0;
      }
    }
  }
  if (carried > 0 || tooLong) yield emit(Buffer.concat(carry));
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function infoOf(e: Record<string, unknown>, cloudEvent: boolean): RecordInfo | null {
  const data = cloudEvent && isObject(e.data) ? e.data : undefined;
  const tenantId = cloudEvent ? data?.tenantId : e.tenantId;
  const metric = cloudEvent ? e.type : e.metric;
  const tsMs = Date.parse(String(cloudEvent ? e.time : e.ts));
  if (typeof metric !== 'string' || !Number.isFinite(tsMs)) return null;
  return { tenantId: typeof tenantId === 'string' ? tenantId : null, metric, tsMs };
}

/**
 * The records of an input. NDJSON and CloudEvents: one JSON object per line, sent as written (numbers keep their
 * digits; the service decides). CSV: a header row of event field names and `meta.<key>` columns, RFC 4180 quoting.
 * Blank lines are skipped.
 */
export async function* readRecords(chunks: AsyncIterable<Buffer>, format: ImportFormat): AsyncGenerator<InputRecord> {
  if (format === 'csv') {
    yield* csvRecords(lines(chunks));
    return;
  }
  for await (const l of lines(chunks)) {
    if (l.error) {
      yield { line: l.line, text: l.text, error: { code: 'invalid_line', message: l.error } };
      continue;
    }
    const text = l.line === 1 ? l.text.replace(/^\uFEFF/, '') : l.text;
    if (text.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      yield { line: l.line, text, error: { code: 'invalid_json', message: `line is not valid JSON: ${(err as Error).message}` } };
      continue;
    }
    if (!isObject(value)) {
      yield { line: l.line, text, error: { code: 'invalid_json', message: 'line must be one JSON object' } };
      continue;
    }
    yield { line: l.line, text, json: text.trim(), info: infoOf(value, format === 'cloudevents') };
  }
}

async function* csvRecords(source: AsyncIterable<{ line: number; text: string; error?: string }>): AsyncGenerator<InputRecord> {
  let header: string[] | undefined;
  let pending: { line: number; text: string } | undefined;
  for await (const l of source) {
    if (l.error) {
      pending = undefined;
      yield { line: l.line, text: l.text, error: { code: 'invalid_line', message: l.error } };
      continue;
    }
    // A quoted field may hold line breaks: the record goes on until its quotes balance.
    const record = pending ? { line: pending.line, text: `${pending.text}\n${l.text}` } : { line: l.line, text: l.line === 1 ? l.text.replace(/^\uFEFF/, '') : l.text };
    const cells = splitCsv(record.text);
    if (cells === 'open') {
      pending = record.text.length > maxLineBytes ? undefined : record;
      if (!pending) yield { line: record.line, text: record.text.slice(0, 200), error: { code: 'invalid_csv', message: 'a quoted field is never closed' } };
      continue;
    }
    pending = undefined;
    if (cells === 'bad') {
      yield { line: record.line, text: record.text, error: { code: 'invalid_csv', message: 'a quote inside an unquoted field, or text after a closing quote' } };
      continue;
    }
    if (!header) {
      header = csvHeader(cells);
      continue;
    }
    if (cells.length === 1 && cells[0] === '') continue;
    if (cells.length !== header.length) {
      yield { line: record.line, text: record.text, error: { code: 'invalid_csv', message: `${cells.length} fields where the header has ${header.length}` } };
      continue;
    }
    const event: Record<string, unknown> = {};
    const meta: Array<[string, string]> = [];
    header.forEach((name, i) => {
      const value = cells[i]!;
      if (value === '') return;
      if (name.startsWith('meta.')) meta.push([name.slice(5), value]);
      else event[name] = value;
    });
    if (meta.length > 0) event.meta = Object.fromEntries(meta);
    yield { line: record.line, text: record.text, json: JSON.stringify(event), info: infoOf(event, false) };
  }
  if (pending) yield { line: pending.line, text: pending.text.slice(0, 200), error: { code: 'invalid_csv', message: 'a quoted field is never closed' } };
}

/** The header's columns: event field names and `meta.<key>`, each once; anything else is a usage error. */
function csvHeader(cells: string[]): string[] {
  const seen = new Set<string>();
  for (const name of cells) {
    if (!eventFields.has(name) && !/^meta\..+/.test(name)) {
      throw new UsageError(`CSV header: unknown column ${JSON.stringify(name)}; use ${[...eventFields].join(', ')} or meta.<key>`);
    }
    if (seen.has(name)) throw new UsageError(`CSV header: column ${name} appears twice`);
    seen.add(name);
  }
  return cells;
}

/** RFC 4180 fields of one record; 'open' while a quoted field is not closed yet, 'bad' for stray quotes. */
function splitCsv(text: string): string[] | 'open' | 'bad' {
  const cells: string[] = [];
  let i = 0;
  for (;;) {
    if (text[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) return 'open';
        value += text.slice(i, q);
        if (text[q + 1] === '"') {
          value += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      cells.push(value);
      if (i === text.length) return cells;
      if (text[i] !== ',') return 'bad';
      i++;
    } else {
      const comma = text.indexOf(',', i);
      const value = comma < 0 ? text.slice(i) : text.slice(i, comma);
      if (value.includes('"')) return 'bad';
      cells.push(value);
      if (comma < 0) return cells;
      i = comma + 1;
    }
  }
}
