import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Deps } from '../../deps.js';
import { parseBody, requireScope, type Ctx } from '../../context.js';
import { HttpError } from '../../errors.js';
import { AnalystSqlError } from '../../../analyst/errors.js';
import { StorageUnavailableError } from '../../../storage/errors.js';
import { sqlBodySchema } from './schema.js';

/**
 * POST /v1/sql: analysts' read-only SQL over every tenant's data (scope `sql`: cross-tenant analyst keys, and the
 * service admin key). Body `{query, format?: JSON|CSV|TSV, params?}`. JSON answers
 * `{columns: [{name, type}], rows: [[...]], rowCount, elapsedMs}`; CSV and TSV answer the table with a header row.
 * Refusals and ClickHouse errors are 400 (`sql_refused`, `sql_error`, `sql_limit`), too many waiting queries 429.
 */
export function runSql(deps: Deps) {
  const analyst = deps.analyst;
  return async (ctx: Ctx) => {
    const p = requireScope(ctx, 'sql');
    if (p.tenantId !== null) {
      throw new HttpError(403, 'forbidden', 'analyst SQL reads every tenant\'s data: it needs an analyst key (scope sql, no tenantId)');
    }
    const body = parseBody(ctx, sqlBodySchema);
    // Never the text (bodies are not logged): its hash ties log lines of one query together.
    const queryHash = createHash('sha256').update(body.query).digest('hex').slice(0, 16);
    const log = ctx.state.log.child({ keyId: p.keyId, queryHash, format: body.format });
    try {
      const r = await analyst.run({ query: body.query, format: body.format, params: body.params });
      log.info({ elapsedMs: r.elapsedMs, rows: r.rowCount ?? undefined, bytes: r.bytes }, 'analyst sql');
      ctx.set('x-elapsed-ms', String(r.elapsedMs));
      ctx.type = r.contentType;
      // Sent in pieces of the engine's text: a large result is never held as objects or as a second whole copy.
      ctx.body = Readable.from(r.chunks(), { objectMode: false });
    } catch (err) {
      if (err instanceof AnalystSqlError) {
        log.info({ code: err.code }, 'analyst sql refused or failed');
        if (err.code === 'sql_busy') {
          ctx.set('Retry-After', '1');
          throw new HttpError(429, err.code, err.message);
        }
        throw new HttpError(400, err.code, err.message);
      }
      if (err instanceof StorageUnavailableError) {
        log.error({ err }, 'analyst sql: storage failed');
        throw new HttpError(503, 'storage_unavailable', 'storage failed while running the query; retry');
      }
      throw err;
    }
  };
}
