import { z } from 'zod';
import { metricSchema, tenantIdSchema } from '../../../ingest/event.js';
import { nextCursorSchema, pageQuery } from '../../pagination.js';

const meterFields = {
  meterId: z.string().regex(/^mtr_[A-Za-z0-9_]+$/, 'must be a Stripe meter id (mtr_...)').optional(),
  eventName: z.string().min(1).max(100).optional(),
  active: z.boolean().default(true),
};

const needsMeter = (b: { meterId?: string | undefined; eventName?: string | undefined }) => Boolean(b.meterId || b.eventName);
const meterMessage = { message: 'give meterId or eventName (or both) of the Stripe meter', path: ['meterId'] };

export const createMappingSchema = z
  .strictObject({ tenantId: tenantIdSchema, metric: metricSchema, ...meterFields })
  .refine(needsMeter, meterMessage);

export const updateMappingSchema = z.strictObject(meterFields).refine(needsMeter, meterMessage);

export const listMappingsQuerySchema = z.strictObject({ tenantId: tenantIdSchema, metric: metricSchema.optional(), ...pageQuery });

export const mappingPathSchema = z.strictObject({ tenantId: tenantIdSchema, metric: metricSchema });

// Responses, described for the OpenAPI spec.
export const mappingSchema = z.strictObject({
  tenantId: z.string(),
  metric: z.string(),
  meterId: z.string(),
  eventName: z.string(),
  formula: z.enum(['sum', 'last']),
  customerPayloadKey: z.string(),
  valuePayloadKey: z.string(),
  active: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export const deletedMappingSchema = mappingSchema.extend({ deleted: z.literal(true) });
export const mappingListSchema = z.strictObject({ mappings: z.array(mappingSchema), nextCursor: nextCursorSchema });
