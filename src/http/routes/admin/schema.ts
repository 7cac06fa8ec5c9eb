import { z } from 'zod';
import { scopes } from '../../../auth/keys.js';
import { tenantIdSchema } from '../../../ingest/event.js';
import { canonicalTimeZone, isValidTimeZone } from '../../../time/period.js';
import { pageQuery } from '../../pagination.js';

/** A Stripe connected account id; null (or absent) bills through the platform account. */
const stripeAccountSchema = z
  .string()
  .regex(/^acct_[A-Za-z0-9]{1,64}$/, 'must be a Stripe connected account id (acct_ followed by letters and digits)')
  .nullable();

export const createTenantSchema = z.strictObject({
  id: tenantIdSchema,
  stripeAccount: stripeAccountSchema.optional(),
  timezone: z
    .string()
    .default('UTC')
    .refine(isValidTimeZone, { message: 'must be an IANA time zone such as Europe/Berlin' })
    .transform(canonicalTimeZone),
});

export const updateTenantSchema = z.strictObject({ stripeAccount: stripeAccountSchema });

export const tenantPathSchema = z.strictObject({ id: tenantIdSchema });

export const createKeySchema = z
  .strictObject({
    tenantId: tenantIdSchema.nullable().optional(),
    scopes: z.array(z.enum(scopes)).min(1).transform((s) => [...new Set(s)]),
    name: z.string().max(128).default(''),
  })
  .refine((b) => (b.tenantId ? !b.scopes.includes('sql') : b.scopes.every((s) => s === 'sql')), {
    message: "a key is either tenant-bound (ingest, read, admin) or a cross-tenant analyst key (sql only, no tenantId)",
    path: ['scopes'],
  });

export const listKeysQuerySchema = z.strictObject({ tenantId: tenantIdSchema.optional(), ...pageQuery });

export const listTenantsQuerySchema = z.strictObject({ ...pageQuery });
