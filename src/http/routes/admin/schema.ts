import { z } from 'zod';
import { scopes } from '../../../auth/keys.js';
import { tenantIdSchema } from '../../../ingest/event.js';
import { canonicalTimeZone, isValidTimeZone } from '../../../time/period.js';

export const createTenantSchema = z.strictObject({
  id: tenantIdSchema,
  timezone: z
    .string()
    .default('UTC')
    .refine(isValidTimeZone, { message: 'must be an IANA time zone such as Europe/Berlin' })
    .transform(canonicalTimeZone),
});

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

export const listKeysQuerySchema = z.strictObject({ tenantId: tenantIdSchema.optional() });
