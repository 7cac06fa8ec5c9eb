import { z } from 'zod';
import { defineInsert, defineQuery } from './define.js';

export const priceMapping = z.object({
  tenantId: z.string(),
  metric: z.string(),
  meterId: z.string(),
  eventName: z.string(),
  /** The meter's aggregation formula and payload keys, as Stripe had them when the mapping was made. */
  formula: z.enum(['sum', 'last']),
  customerPayloadKey: z.string(),
  valuePayloadKey: z.string(),
  active: z.union([z.boolean(), z.number()]).transform(Boolean),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type PriceMapping = z.infer<typeof priceMapping>;

export const customerMapping = z.object({
  tenantId: z.string(),
  customerRef: z.string(),
  stripeCustomerId: z.string(),
  subscriptionItemId: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type CustomerMapping = z.infer<typeof customerMapping>;

/** A tenant's current metric -> meter bindings; metric '' for all. */
export const listPriceMappings = defineQuery({
  sql: 'mappings/list_price_mappings',
  params: z.object({ tenantId: z.string(), metric: z.string() }),
  row: priceMapping,
});

/** A tenant's current customerRef -> Stripe customer bindings; customerRef '' for all. */
export const listCustomerMappings = defineQuery({
  sql: 'mappings/list_customer_mappings',
  params: z.object({ tenantId: z.string(), customerRef: z.string() }),
  row: customerMapping,
});

/** The tenant that first claimed a Stripe customer (no row: unclaimed). */
export const customerOwner = defineQuery({
  sql: 'mappings/customer_owner',
  params: z.object({ stripeCustomerId: z.string() }),
  row: z.object({ tenantId: z.string() }),
});

/** The customerRefs of a tenant bound to one Stripe customer. */
export const customerRefsOf = defineQuery({
  sql: 'mappings/customer_refs_of',
  params: z.object({ tenantId: z.string(), stripeCustomerId: z.string() }),
  row: z.object({ customerRef: z.string() }),
});

const flag = z.union([z.literal(0), z.literal(1)]);

export const insertPriceMapping = defineInsert({
  table: 'price_mappings',
  row: priceMapping.extend({ active: flag, deleted: flag, createdAt: z.string().optional(), version: z.string() }),
});

export const insertCustomerMapping = defineInsert({ table: 'customer_mappings', row: customerMapping.extend({ version: z.string() }) });

/** A claim; inserted under a per-customer deduplication token so the first of racing claims is the one kept. */
export const insertCustomerOwner = defineInsert({
  table: 'stripe_customer_owners',
  row: z.object({ stripeCustomerId: z.string(), tenantId: z.string(), stripeAccount: z.string() }),
});
