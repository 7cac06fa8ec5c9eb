import { z } from 'zod';
import { metricSchema, tenantIdSchema } from '../../../ingest/event.js';
import { aggregations, maxDimensions } from '../../../meters/definitions.js';
import { nextCursorSchema, pageQuery } from '../../pagination.js';

/**
 * A meta key a meter names (uniqueBy, a dimension). Narrower than what meta accepts, since dimension names also
 * travel in query strings (`groupBy=a,b`, `filter.<name>=`): no comma, space or `=`.
 */
export const metaKeySchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.:-]*$/, 'must be letters, digits, _ . : or - (a meta key of the events)');

const specFields = {
  aggregation: z.enum(aggregations),
  uniqueBy: metaKeySchema.optional(),
  dimensions: z
    .array(metaKeySchema.refine((d) => d !== 'customerRef', 'customerRef is grouped by without being a dimension'))
    .max(maxDimensions, `at most ${maxDimensions} dimensions`)
    .refine((d) => new Set(d).size === d.length, 'dimensions must not repeat')
    .default([]),
};

type SpecInput = { aggregation: string; uniqueBy?: string | undefined };
const uniqueByRules = <T extends z.ZodType<SpecInput>>(schema: T) =>
  schema
    .refine((b) => b.aggregation !== 'unique_count' || b.uniqueBy !== undefined, {
      message: 'a unique_count meter needs uniqueBy: the meta key whose distinct values it counts',
      path: ['uniqueBy'],
    })
    .refine((b) => b.aggregation === 'unique_count' || b.uniqueBy === undefined, {
      message: 'uniqueBy is only for unique_count meters',
      path: ['uniqueBy'],
    });

export const createMeterSchema = uniqueByRules(z.strictObject({ tenantId: tenantIdSchema, metric: metricSchema, ...specFields }));

export const updateMeterSchema = uniqueByRules(z.strictObject(specFields));

export const listMetersQuerySchema = z.strictObject({ tenantId: tenantIdSchema, metric: metricSchema.optional(), ...pageQuery });

export const meterPathSchema = z.strictObject({ tenantId: tenantIdSchema, metric: metricSchema });

// Responses, described for the OpenAPI spec.
export const meterSchema = z.strictObject({
  tenantId: z.string(),
  metric: z.string(),
  aggregation: z.enum(aggregations),
  uniqueBy: z.string(),
  dimensions: z.array(z.string()),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export const meterListSchema = z.strictObject({ meters: z.array(meterSchema), nextCursor: nextCursorSchema });
