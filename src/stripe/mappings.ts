import type { ClickHouseClient } from '@clickhouse/client';
import { z } from 'zod';
import { loadSql } from '../storage/sql.js';
import { nextVersion } from '../storage/version.js';
import { toClickHouseTime } from '../storage/time.js';

export const priceMapping = z.object({
  tenantId: z.string(),
  metric: z.string(),
  meterId: z.string(),
  eventName: z.string(),
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

const now = () => toClickHouseTime(Date.now());

/** Metric -> Stripe meter and customerRef -> Stripe customer bindings. Writes are versioned rows; reads take the newest. */
export class MappingStore {
  constructor(private readonly client: ClickHouseClient) {}

  async listPrices(tenantId: string, metric = ''): Promise<PriceMapping[]> {
    const rs = await this.client.query({
      query: loadSql('mappings/list_price_mappings'),
      query_params: { tenantId, metric },
      format: 'JSONEachRow',
    });
    return z.array(priceMapping).parse(await rs.json());
  }

  async getPrice(tenantId: string, metric: string): Promise<PriceMapping | undefined> {
    return (await this.listPrices(tenantId, metric))[0];
  }

  async putPrice(m: { tenantId: string; metric: string; meterId: string; eventName: string; active: boolean }, createdAt?: string) {
    await this.client.insert({
      table: 'price_mappings',
      values: [
        {
          tenant_id: m.tenantId,
          metric: m.metric,
          meter_id: m.meterId,
          event_name: m.eventName,
          active: m.active ? 1 : 0,
          deleted: 0,
          created_at: createdAt ? toClickHouseTime(createdAt) : now(),
          updated_at: now(),
          version: nextVersion(),
        },
      ],
      format: 'JSONEachRow',
    });
    return (await this.getPrice(m.tenantId, m.metric))!;
  }

  async deletePrice(existing: PriceMapping): Promise<void> {
    await this.client.insert({
      table: 'price_mappings',
      values: [
        {
          tenant_id: existing.tenantId,
          metric: existing.metric,
          meter_id: existing.meterId,
          event_name: existing.eventName,
          active: 0,
          deleted: 1,
          updated_at: now(),
          version: nextVersion(),
        },
      ],
      format: 'JSONEachRow',
    });
  }

  async listCustomers(tenantId: string, customerRef = ''): Promise<CustomerMapping[]> {
    const rs = await this.client.query({
      query: loadSql('mappings/list_customer_mappings'),
      query_params: { tenantId, customerRef },
      format: 'JSONEachRow',
    });
    return z.array(customerMapping).parse(await rs.json());
  }

  async putCustomer(c: { tenantId: string; customerRef: string; stripeCustomerId: string; subscriptionItemId: string }) {
    const existing = (await this.listCustomers(c.tenantId, c.customerRef))[0];
    await this.client.insert({
      table: 'customer_mappings',
      values: [
        {
          tenant_id: c.tenantId,
          customer_ref: c.customerRef,
          stripe_customer_id: c.stripeCustomerId,
          subscription_item_id: c.subscriptionItemId,
          created_at: existing ? toClickHouseTime(existing.createdAt) : now(),
          updated_at: now(),
          version: nextVersion(),
        },
      ],
      format: 'JSONEachRow',
    });
    return { created: !existing, mapping: (await this.listCustomers(c.tenantId, c.customerRef))[0]! };
  }
}
