import { z } from 'zod';
import { scopes } from '../../../auth/keys.js';
import { tenantIdSchema } from '../../../ingest/event.js';
import { canonicalTimeZone, isValidTimeZone } from '../../../time/period.js';
import { nextCursorSchema, pageQuery } from '../../pagination.js';

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

/** Any text: an id that names no key of the caller's is a 404, whatever its form. */
export const keyPathSchema = z.strictObject({ id: z.string().describe('the key id (key_...)') });

// Responses, described for the OpenAPI spec.
export const tenantSchema = z.strictObject({ id: z.string(), timezone: z.string(), stripeAccount: z.string().nullable(), createdAt: z.string() });
export const createdTenantSchema = tenantSchema.extend({ created: z.boolean() });
export const tenantListSchema = z.strictObject({ tenants: z.array(tenantSchema), nextCursor: nextCursorSchema });

export const apiKeySchema = z.strictObject({
  id: z.string(),
  tenantId: z.string().nullable(),
  name: z.string(),
  prefix: z.string(),
  scopes: z.array(z.enum(scopes)),
  createdBy: z.string(),
  createdAt: z.string(),
  revokedAt: z.string().nullable(),
});
export const createdKeySchema = z.strictObject({
  id: z.string(),
  key: z.string().describe('the secret; shown in this response only'),
  tenantId: z.string().nullable(),
  scopes: z.array(z.enum(scopes)),
  name: z.string(),
});
export const apiKeyListSchema = z.strictObject({ keys: z.array(apiKeySchema), nextCursor: nextCursorSchema });

export const retentionRunSchema = z.strictObject({
  horizon: z.string().describe('the recorded cutoff: raw events before it may be gone; replay refuses windows starting before it'),
  cutoff: z.string().describe('rows before this were removed: the horizon, or earlier while a running replay apply holds it back'),
  heldBackBy: z.array(z.string()).describe('replay applies whose windows held the cutoff back'),
  tables: z.array(
    z.strictObject({
      table: z.enum(['events', 'replayed_events']),
      partitionsDropped: z.array(z.string()).describe('months (YYYYMM) dropped whole'),
      rowsDropped: z.number().int().describe('rows of the dropped months'),
      rowsDeleted: z.number().int().describe('rows deleted from the month the cutoff falls in'),
    }),
  ),
  durationMs: z.number().int(),
});
