import type { ClickHouseClient } from '@clickhouse/client';
import { loadSql } from '../storage/sql.js';

export type Tenant = { id: string; timezone: string; created_at: string };

/**
 * Tenants change rarely and are read on every request, so they are cached in memory. A tenant is created once and
 * its time zone never changes afterwards (billing periods of stored events were computed with it).
 */
export class TenantStore {
  private cache = new Map<string, Tenant>();

  constructor(private readonly client: ClickHouseClient) {}

  async get(id: string): Promise<Tenant | undefined> {
    const cached = this.cache.get(id);
    if (cached) return cached;
    const rs = await this.client.query({ query: loadSql('tenants/get_tenant'), query_params: { id }, format: 'JSONEachRow' });
    const [tenant] = await rs.json<Tenant>();
    if (tenant) this.cache.set(id, tenant);
    return tenant;
  }

  /** The zone of a tenant already loaded by get(); ingest calls get() for each tenant of a batch first. */
  timeZoneOf(id: string): string {
    return this.cache.get(id)?.timezone ?? 'UTC';
  }

  async list(): Promise<Tenant[]> {
    const rs = await this.client.query({ query: loadSql('tenants/list_tenants'), format: 'JSONEachRow' });
    return rs.json<Tenant>();
  }

  /** Creates a tenant; returns false when it already exists. */
  async create(id: string, timezone: string): Promise<{ created: boolean; tenant: Tenant }> {
    const existing = await this.get(id);
    if (existing) return { created: false, tenant: existing };
    await this.client.insert({ table: 'tenants', values: [{ id, timezone }], format: 'JSONEachRow' });
    this.cache.delete(id);
    const tenant = (await this.get(id))!;
    return { created: true, tenant };
  }
}
