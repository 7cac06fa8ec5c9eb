import { z } from 'zod';
import { defineInsert, defineQuery } from './define.js';

const tenantRow = z.object({ id: z.string(), timezone: z.string(), stripeAccount: z.string(), createdAt: z.string() });
/** `stripeAccount`: the connected account (`acct_...`) the tenant bills through, '' for the platform account. */
const toTenant = (r: z.output<typeof tenantRow>) => ({ id: r.id, timeZone: r.timezone, stripeAccount: r.stripeAccount, createdAt: r.createdAt });
export type Tenant = ReturnType<typeof toTenant>;

export const getTenant = defineQuery({ sql: 'tenants/get_tenant', params: z.object({ id: z.string() }), row: tenantRow, map: toTenant });

export const listTenants = defineQuery({ sql: 'tenants/list_tenants', params: z.object({}), row: tenantRow, map: toTenant });

/** A newer row for a tenant replaces the older one (the table keeps the latest `updated_at`). */
export const insertTenant = defineInsert({
  table: 'tenants',
  row: z.object({
    id: z.string(),
    timezone: z.string(),
    stripeAccount: z.string(),
    createdAt: z.string().optional(),
    updatedAt: z.string().optional(),
  }),
});
