import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
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

/** One claim per customer: the engine keeps the first insert under this token and drops later ones. */
export const ownerClaimToken = (stripeCustomerId: string) => createHash('sha256').update(`stripe_customer_owner:${stripeCustomerId}`).digest('hex');

/**
 * The claim's INSERT, its deduplication token in the statement's own SETTINGS clause: settings passed with the call
 * would stay on the embedded connection's session and deduplicate later inserts of that connection. The token is a
 * hex digest, so it can sit in the statement text.
 */
export const ownerClaimStatement = (stripeCustomerId: string) =>
  `INSERT INTO stripe_customer_owners SETTINGS insert_deduplicate = 1, insert_deduplication_token = '${ownerClaimToken(stripeCustomerId)}' FORMAT JSONEachRow`;

export type BindResult =
  | { bound: true; created: boolean; mapping: CustomerMapping }
  | { bound: false; reason: 'owned_by_another_tenant' }
  | { bound: false; reason: 'bound_to_another_ref'; customerRef: string };

/** Metric -> Stripe meter and customerRef -> Stripe customer bindings. Writes are versioned rows; reads take the newest. */
export class MappingStore {
  /** Customer binding writes of this process, one at a time: a claim's check and insert are not interleaved. */
  private bindings: Promise<unknown> = Promise.resolve();

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

  /**
   * Binds a customerRef to a Stripe customer, which the tenant must own: the first tenant to bind a Stripe customer
   * owns it for good, and within a tenant one customerRef stands for it (two would each be reconciled against the
   * customer's whole Stripe total). Claims run one at a time in this process; between processes, the claim's
   * deduplication token keeps one row of two racing claims, and both read the same owner back.
   */
  bindCustomer(c: { tenantId: string; customerRef: string; stripeCustomerId: string; subscriptionItemId: string }, stripeAccount = ''): Promise<BindResult> {
    const run = this.bindings.then(async (): Promise<BindResult> => {
      let owner = await this.ownerOf(c.stripeCustomerId);
      if (owner !== undefined && owner !== c.tenantId) return { bound: false, reason: 'owned_by_another_tenant' };
      const other = (await this.customerRefsOf(c.tenantId, c.stripeCustomerId)).find((ref) => ref !== c.customerRef);
      if (other !== undefined) return { bound: false, reason: 'bound_to_another_ref', customerRef: other };
      if (owner === undefined) {
        const row = { stripe_customer_id: c.stripeCustomerId, tenant_id: c.tenantId, stripe_account: stripeAccount };
        await this.client.exec({ query: ownerClaimStatement(c.stripeCustomerId), values: Readable.from([`${JSON.stringify(row)}\n`]) });
        owner = await this.ownerOf(c.stripeCustomerId);
        if (owner !== c.tenantId) return { bound: false, reason: 'owned_by_another_tenant' };
      }
      return { bound: true, ...(await this.putCustomer(c)) };
    });
    this.bindings = run.catch(() => undefined);
    return run;
  }

  private async ownerOf(stripeCustomerId: string): Promise<string | undefined> {
    const rs = await this.client.query({ query: loadSql('mappings/customer_owner'), query_params: { stripeCustomerId }, format: 'JSONEachRow' });
    return (await rs.json<{ tenantId: string }>())[0]?.tenantId;
  }

  private async customerRefsOf(tenantId: string, stripeCustomerId: string): Promise<string[]> {
    const rs = await this.client.query({ query: loadSql('mappings/customer_refs_of'), query_params: { tenantId, stripeCustomerId }, format: 'JSONEachRow' });
    return (await rs.json<{ customerRef: string }>()).map((r) => r.customerRef);
  }

  private async putCustomer(c: { tenantId: string; customerRef: string; stripeCustomerId: string; subscriptionItemId: string }) {
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

  /** Whether the tenant has any meter or customer binding (its Stripe account may change only while it has none). */
  async hasBindings(tenantId: string): Promise<boolean> {
    return (await this.listPrices(tenantId)).length > 0 || (await this.listCustomers(tenantId)).length > 0;
  }
}
