import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import { insertApiKey, listApiKeys, type ApiKeyRecord } from '../storage/queries/api-keys.js';
import { toClickHouseTime } from '../storage/time.js';

export const scopes = ['ingest', 'read', 'admin', 'sql'] as const;
export type Scope = (typeof scopes)[number];

/** Who is calling. `tenantId` null with `root` is the service admin key; null without it, an analyst `sql` key. */
export type Principal = { keyId: string; tenantId: string | null; scopes: ReadonlySet<Scope>; root: boolean };

export type { ApiKeyRecord };

export const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');

/** A new secret: 32 random bytes, so a SHA-256 hash (unsalted, fast to check) is safe to store. */
export function generateKey(): { id: string; key: string } {
  return { id: `key_${randomBytes(8).toString('hex')}`, key: `sm_${randomBytes(32).toString('base64url')}` };
}

/**
 * Verifies keys against an in-memory copy of the key table, refreshed every `ttlMs` (a revocation made by another
 * process takes effect within that time; one made here, at once). Checking a key costs a hash and a map lookup,
 * not a database round trip per request. Unknown keys trigger at most one reload per second.
 */
export class ApiKeyStore {
  private byHash = new Map<string, ApiKeyRecord>();
  private loadedAt = 0;
  private loading: Promise<void> | undefined;
  private readonly adminHash: Buffer;

  constructor(
    private readonly client: ClickHouseClient,
    adminKey: string,
    private readonly ttlMs: number,
  ) {
    this.adminHash = Buffer.from(hashKey(adminKey), 'hex');
  }

  async verify(key: string): Promise<Principal | undefined> {
    const hash = hashKey(key);
    if (timingSafeEqual(Buffer.from(hash, 'hex'), this.adminHash)) {
      return { keyId: 'admin', tenantId: null, scopes: new Set(scopes), root: true };
    }
    const now = Date.now();
    if (now - this.loadedAt > this.ttlMs || (!this.byHash.has(hash) && now - this.loadedAt > 1000)) await this.reload();
    const record = this.byHash.get(hash);
    if (!record || record.revokedAt) return undefined;
    return { keyId: record.id, tenantId: record.tenantId || null, scopes: new Set(record.scopes as Scope[]), root: false };
  }

  async list(tenantId: string | null): Promise<ApiKeyRecord[]> {
    return listApiKeys(this.client, { tenantId: tenantId ?? '' });
  }

  async create(input: { tenantId: string | null; scopes: Scope[]; name: string; createdBy: string }) {
    const { id, key } = generateKey();
    await insertApiKey(this.client, [
      { id, tenantId: input.tenantId ?? '', keyHash: hashKey(key), keyPrefix: key.slice(0, 7), name: input.name, scopes: input.scopes, createdBy: input.createdBy },
    ]);
    await this.reload();
    return { id, key };
  }

  async find(id: string): Promise<ApiKeyRecord | undefined> {
    return (await this.list(null)).find((k) => k.id === id);
  }

  async revoke(record: ApiKeyRecord): Promise<void> {
    const now = toClickHouseTime(Date.now());
    await insertApiKey(this.client, [{ ...record, revokedAt: now, updatedAt: now }]);
    await this.reload();
  }

  private reload(): Promise<void> {
    this.loading ??= (async () => {
      try {
        const records = await this.list(null);
        this.byHash = new Map(records.map((r) => [r.keyHash, r]));
        this.loadedAt = Date.now();
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }
}
