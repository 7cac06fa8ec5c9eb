import type { ClickHouseClient } from '@clickhouse/client';
import { loadSql } from '../storage/sql.js';
import { toClickHouseTime } from '../storage/time.js';

/** `stripe_account`: the connected account (`acct_...`) the tenant bills through, '' for the platform account. */
export type Tenant = { id: string; timezone: string; stripe_account: string; created_at: string };

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
    const rs = await this.client.query({ query: loadSql('tenants/get_tenant'), query_params: { id }, format: 'JSONEachRow' });
    const [tenant] = await rs.json<Tenant>();
    if (tenant) this.cache.set(id, { tenant, loadedAt: Date.now() });
    return tenant;
  }

  /** The zone of a tenant already loaded by get(); ingest calls get() for each tenant of a batch first. */
  timeZoneOf(id: string): string {
    return this.cache.get(id)?.tenant.timezone ?? 'UTC';
  }

  async list(): Promise<Tenant[]> {
    const rs = await this.client.query({ query: loadSql('tenants/list_tenants'), format: 'JSONEachRow' });
    return rs.json<Tenant>();
  }

  /** Creates a tenant; returns false when it already exists. */
  async create(id: string, timezone: string, stripeAccount = ''): Promise<{ created: boolean; tenant: Tenant }> {
    const existing = await this.get(id);
    if (existing) return { created: false, tenant: existing };
    await this.client.insert({ table: 'tenants', values: [{ id, timezone, stripe_account: stripeAccount }], format: 'JSONEachRow' });
    this.cache.delete(id);
    const tenant = (await this.get(id))!;
    return { created: true, tenant };
  }

  /** A newer row for the tenant (the table keeps the latest updated_at). */
  async setStripeAccount(tenant: Tenant, stripeAccount: string): Promise<Tenant> {
    await this.client.insert({
      table: 'tenants',
      values: [
        {
          id: tenant.id,
          timezone: tenant.timezone,
          stripe_account: stripeAccount,
          created_at: tenant.created_at,
          updated_at: toClickHouseTime(Date.now()),
        },
      ],
      format: 'JSONEachRow',
    });
    this.cache.delete(tenant.id);
    return (await this.get(tenant.id))!;
  }
}
