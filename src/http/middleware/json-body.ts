import type { Middleware } from 'koa';
import getRawBody from 'raw-body';
import type { Readable } from 'node:stream';
import { once } from 'node:events';
import { createGunzip, createInflate } from 'node:zlib';
import type { State } from '../context.js';
import { HttpError } from '../errors.js';
import { parseExactJson } from '../exact-json.js';

/**
 * Parses JSON bodies of POST/PUT/PATCH requests into ctx.state.body. A declared Content-Length over the limit is
 * refused before reading; a streamed body is cut off at the limit. 415 for other content types and for any charset
 * but UTF-8 (none given means UTF-8): decoding UTF-16 as UTF-8 would store other text than the client sent. Numbers
 * a double cannot hold exactly become InexactNumber (see exact-json.ts), for validation to refuse.
 *
 * `Content-Encoding: gzip` or `deflate` bodies are inflated as they arrive and the limit counts inflated bytes, so a
 * few kilobytes that inflate to gigabytes cost at most `limitBytes` before the 413. `extraTypes` names, per path,
 * the JSON media types a route takes besides application/json (CloudEvents on ingest).
 *
 * What bounds memory under a flood: a body being read holds at most `limitBytes`, per open connection (Node caps
 * neither connections nor concurrent requests: the fd limit, a proxy's connection limit and the server's
 * requestTimeout do). A parsed ingest body lives only until the writer queues it, within INGEST_QUEUE_MAX_ROWS
 * and INGEST_QUEUE_MAX_BYTES, or refuses it at once with 429.
 */
export function jsonBody(limitBytes: number, extraTypes: Record<string, readonly string[]> = {}): Middleware<State> {
  return async (ctx, next) => {
    if (!['POST', 'PUT', 'PATCH'].includes(ctx.method)) return next();
    const length = Number(ctx.get('content-length') || 0);
    const hasBody = length > 0 || ctx.get('transfer-encoding') !== '';
    const types = ['application/json', ...(extraTypes[ctx.path] ?? [])];
    if (hasBody && !ctx.is(types)) {
      throw new HttpError(415, 'unsupported_media_type', `send the body as ${types.join(' or ')}`);
    }
    if (hasBody && !utf8(ctx.get('content-type'))) {
      throw new HttpError(415, 'unsupported_media_type', `send the body as ${types.join(' or ')} in UTF-8 (charset=utf-8 or none)`);
    }
    const encoding = contentEncoding(ctx.get('content-encoding'));
    if (length > limitBytes) throw tooLarge(limitBytes);
    if (!hasBody) {
      ctx.state.body = undefined;
      return next();
    }
    const inflater = encoding === 'gzip' ? createGunzip() : encoding === 'deflate' ? createInflate() : undefined;
    const source: Readable = inflater ? ctx.req.pipe(inflater) : ctx.req;
    let bytes: Buffer;
    try {
      bytes = await getRawBody(source, { limit: limitBytes });
    } catch (err) {
      // Past the limit the rest is drained, not kept (nor inflated), so the client still receives its 413.
      if (inflater) {
        ctx.req.unpipe(inflater);
        inflater.destroy();
      }
      if (!ctx.req.readableEnded && !ctx.req.destroyed) {
        ctx.req.resume();
        await once(ctx.req, 'end').catch(() => undefined);
      }
      if ((err as { type?: string }).type === 'entity.too.large') throw tooLarge(limitBytes);
      if (inflater && (err as { code?: string }).code?.startsWith('Z_')) {
        throw new HttpError(400, 'invalid_body_encoding', `body is not valid ${encoding} data`);
      }
      throw new HttpError(400, 'invalid_json', 'body ended before it was complete');
    }
    let text: string;
    try {
      text = utf8Decoder.decode(bytes);
    } catch {
      // Buffer's decoding would put U+FFFD in place of the bad bytes and store other text than was sent.
      throw new HttpError(400, 'invalid_json', 'body is not valid UTF-8');
    }
    try {
      const parsed = parseExactJson(text);
      ctx.state.body = parsed.value;
      ctx.state.inexactNumbers = parsed.inexact;
    } catch (err) {
      throw new HttpError(400, 'invalid_json', `body is not valid JSON: ${(err as Error).message}`);
    }
    await next();
  };
}

/** The one coding a body may carry: none (`identity`), `gzip` or `deflate` (any case); anything else is a 415. */
function contentEncoding(header: string): 'identity' | 'gzip' | 'deflate' {
  const value = header.trim().toLowerCase();
  if (value === '' || value === 'identity') return 'identity';
  if (value === 'gzip' || value === 'x-gzip') return 'gzip';
  if (value === 'deflate') return 'deflate';
  throw new HttpError(415, 'unsupported_content_encoding', 'send the body uncompressed or with Content-Encoding gzip or deflate');
}

/** True unless a charset parameter names something other than UTF-8 (any case, quoted or not). */
function utf8(contentType: string): boolean {
  for (const parameter of contentType.split(';').slice(1)) {
    const eq = parameter.indexOf('=');
    if (eq < 0 || parameter.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    const value = parameter.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
    if (value !== 'utf-8') return false;
  }
  return true;
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

const tooLarge = (limit: number) =>
  new HttpError(413, 'payload_too_large', `body exceeds ${limit} bytes; split the batch`);
