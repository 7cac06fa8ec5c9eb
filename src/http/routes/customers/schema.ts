import { z } from 'zod';
import { customerRefSchema, tenantIdSchema } from '../../../ingest/event.js';
import { pageQuery } from '../../pagination.js';

export const putCustomerSchema = z.strictObject({
  tenantId: tenantIdSchema,
  customerRef: customerRefSchema,
  stripeCustomerId: z.string().regex(/^cus_[A-Za-z0-9_]+$/, 'must be a Stripe customer id (cus_...)'),
  subscriptionItemId: z.string().regex(/^si_[A-Za-z0-9_]+$/, 'must be a Stripe subscription item id (si_...)').optional(),
});

export const listCustomersQuerySchema = z.strictObject({ tenantId: tenantIdSchema, customerRef: customerRefSchema.optional(), ...pageQuery });
