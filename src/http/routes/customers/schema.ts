import { z } from 'zod';
import { customerRefSchema, tenantIdSchema } from '../../../ingest/event.js';
import { nextCursorSchema, pageQuery } from '../../pagination.js';

export const putCustomerSchema = z.strictObject({
  tenantId: tenantIdSchema,
  customerRef: customerRefSchema,
  stripeCustomerId: z.string().regex(/^cus_[A-Za-z0-9_]+$/, 'must be a Stripe customer id (cus_...)'),
  subscriptionItemId: z.string().regex(/^si_[A-Za-z0-9_]+$/, 'must be a Stripe subscription item id (si_...)').optional(),
});

export const listCustomersQuerySchema = z.strictObject({ tenantId: tenantIdSchema, customerRef: customerRefSchema.optional(), ...pageQuery });

// Responses, described for the OpenAPI spec.
export const customerSchema = z.strictObject({
  tenantId: z.string(),
  customerRef: z.string(),
  stripeCustomerId: z.string(),
  subscriptionItemId: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export const customerListSchema = z.strictObject({ customers: z.array(customerSchema), nextCursor: nextCursorSchema });
