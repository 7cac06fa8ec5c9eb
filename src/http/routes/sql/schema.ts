import { z } from 'zod';
import { outputFormats, type ParamValue } from '../../../analyst/runner.js';

export const maxQueryBytes = 100 * 1024;

export const maxParamDepth = 16;

/**
 * A string, finite number, boolean, or an array of them nested at most maxParamDepth deep. Checked with a loop, not
 * recursion, so a value nested a million levels deep is a 400 like any other bad value.
 */
function isParamValue(value: unknown): value is ParamValue {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v === 'string' || typeof v === 'boolean') continue;
    if (typeof v === 'number' && Number.isFinite(v)) continue;
    if (!Array.isArray(v) || depth > maxParamDepth) return false;
    for (const item of v) stack.push([item, depth + 1]);
  }
  return true;
}

const paramValue = z.custom<ParamValue>(isParamValue, {
  message: `must be a string, finite number, boolean or array of them, arrays nested at most ${maxParamDepth} deep`,
});

export const sqlBodySchema = z.strictObject({
  query: z
    .string()
    .refine((q) => q.trim().length > 0, 'must not be empty')
    .refine((q) => Buffer.byteLength(q, 'utf8') <= maxQueryBytes, `must be at most ${maxQueryBytes} bytes`),
  format: z
    .preprocess((v) => (typeof v === 'string' ? v.toUpperCase() : v), z.enum(outputFormats))
    .optional()
    .transform((f) => f ?? 'JSON'),
  /** ClickHouse query parameters: `{name:Type}` in the query, the value here. */
  params: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'parameter names are identifiers'), paramValue)
    .optional()
    .transform((p) => p ?? {}),
});

// Responses, described for the OpenAPI spec.
export const sqlJsonResultSchema = z.looseObject({
  columns: z.array(z.strictObject({ name: z.string(), type: z.string() })),
  rows: z.array(z.array(z.unknown())),
  rowCount: z.number().int(),
  elapsedMs: z.number(),
});
