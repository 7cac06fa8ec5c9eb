import { z } from 'zod';
import { defineInsert, defineQuery } from './define.js';

const apiKeyRow = z.object({
  id: z.string(),
  tenantId: z.string(),
  keyHash: z.string(),
  keyPrefix: z.string(),
  name: z.string(),
  // Checked against the scope list where keys are verified (src/auth/keys.ts).
  scopes: z.array(z.string()),
  createdBy: z.string(),
  createdAt: z.string(),
  revokedAt: z.string(),
});
export type ApiKeyRecord = z.output<typeof apiKeyRow>;

/** Every key (tenantId '') or one tenant's keys, revoked ones included. */
export const listApiKeys = defineQuery({ sql: 'api_keys/list_keys', params: z.object({ tenantId: z.string() }), row: apiKeyRow });

/** A new version of a key's row; times as ClickHouse text, left out for the column's default. */
export const insertApiKey = defineInsert({
  table: 'api_keys',
  row: apiKeyRow.extend({ createdAt: z.string().optional(), revokedAt: z.string().optional(), updatedAt: z.string().optional() }),
});
