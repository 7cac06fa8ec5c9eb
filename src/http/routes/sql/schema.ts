import { z } from 'zod';
import { outputFormats, type ParamValue } from '../../../analyst/runner.js';

export const maxQueryBytes = 100 * 1024;

const paramValue: z.ZodType<ParamValue> = z.lazy(() =>
  z.union([z.string(), z.number().refine(Number.isFinite, 'must be a finite number'), z.boolean(), z.array(paramValue)]),
);

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
