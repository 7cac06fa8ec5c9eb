import type { ClickHouseClient } from '@clickhouse/client';
import { getTenant, insertTenant, listTenants, type Tenant } from '../storage/queries/tenants.js';
import { toClickHouseTime } from '../storage/time.js';
import { UnknownTenantError, type TenantContext } from './context.js';

export type { Tenant, TenantContext };
export { UnknownTenantError };

/** How long a process trusts its copy of a tenant: another process may have changed the tenant's Stripe account. */
const cacheTtlMs = 30_000;

/**
 * Tenants change rarely and are read on every request, so they are cached in memory. A tenant is created once and
 * its time zone never changes afterwards (billing periods of stored events were computed with it); its Stripe
 * account may change while it has no Stripe bindings.
 */
export class TenantStore {
  private cache = new Map<string, { tenant: Tenant; loadedAt: number }>();

  constructor(private readonly client: ClickHouseClient) {}

  async get(id: string): Promise<Tenant | undefined> {
    const cached = this.cache.get(id);
    if (cached && Date.now() - cached.loadedAt < cacheTtlMs) return cached.tenant;
    return this.load(id);
  }

  /** The tenant's context; UnknownTenantError when there is no such tenant. */
  async context(id: string): Promise<TenantContext> {
    const tenant = await this.get(id);
    if (!tenant) throw new UnknownTenantError(id);
    return { id: tenant.id, timeZone: tenant.timeZone, stripeAccount: tenant.stripeAccount || undefined };
  }

  /**
   * The zone of a tenant already loaded by get() or context(), without a round trip: ingest calls get() for each
   * tenant of a batch first, then this per event. UnknownTenantError for a tenant never loaded.
   */
  timeZoneOf(id: string): string {
    const cached = this.cache.get(id);
    if (!cached) throw new UnknownTenantError(id);
    return cached.tenant.timeZone;
  }

  list(): Promise<Tenant[]> {
    return listTenants(this.client, {});
  }

  /** Creates a tenant; returns false when it already exists. */
  async create(id: string, timezone: string, stripeAccount = ''): Promise<{ created: boolean; tenant: Tenant }> {
    const existing = await this.get(id);
    if (existing) return { created: false, tenant: existing };
    await insertTenant(this.client, [{ id, timezone, stripeAccount }]);
    return { created: true, tenant: (await this.load(id))! };
  }

  /** A newer row for the tenant (the table keeps the latest updated_at). */
  async setStripeAccount(tenant: Tenant, stripeAccount: string): Promise<Tenant> {
    await insertTenant(this.client, [
      { id: tenant.id, timezone: tenant.timeZone, stripeAccount, createdAt: tenant.createdAt, updatedAt: toClickHouseTime(Date.now()) },
    ]);
    return (await this.load(tenant.id))!;
  }

  /** Reads the tenant from storage and replaces the cached copy (never leaves a gap a concurrent reader could see). */
  private async load(id: string): Promise<Tenant | undefined> {
    const [tenant] = await getTenant(this.client, { id });
    if (tenant) this.cache.set(id, { tenant, loadedAt: Date.now() });
    return tenant;
  }
}
