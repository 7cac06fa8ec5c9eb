import { createHash } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import {
  customerOwner,
  customerRefsOf,
  insertCustomerMapping,
  insertCustomerOwner,
  insertPriceMapping,
  listCustomerMappings,
  listPriceMappings,
  type CustomerMapping,
  type PriceMapping,
} from '../storage/queries/mappings.js';
import { nextVersion } from '../storage/version.js';
import { toClickHouseTime } from '../storage/time.js';

export type { CustomerMapping, PriceMapping };

const now = () => toClickHouseTime(Date.now());

/** One claim per customer: the engine keeps the first insert under this token and drops later ones. */
export const ownerClaimToken = (stripeCustomerId: string) => createHash('sha256').update(`stripe_customer_owner:${stripeCustomerId}`).digest('hex');


/** A metric's meter binding as it is written: the meter and what it expects (lookups.ts `mappingFor`). */
export type PriceMappingInput = Pick<PriceMapping, 'tenantId' | 'metric' | 'meterId' | 'eventName' | 'formula' | 'customerPayloadKey' | 'valuePayloadKey' | 'active'>;

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
    return listPriceMappings(this.client, { tenantId, metric });
  }

  async getPrice(tenantId: string, metric: string): Promise<PriceMapping | undefined> {
    return (await this.listPrices(tenantId, metric))[0];
  }

  async putPrice(m: PriceMappingInput, createdAt?: string) {
    await insertPriceMapping(this.client, [
      {
        tenantId: m.tenantId,
        metric: m.metric,
        meterId: m.meterId,
        eventName: m.eventName,
        formula: m.formula,
        customerPayloadKey: m.customerPayloadKey,
        valuePayloadKey: m.valuePayloadKey,
        active: m.active ? 1 : 0,
        deleted: 0,
        createdAt: createdAt ? toClickHouseTime(createdAt) : now(),
        updatedAt: now(),
        version: nextVersion(),
      },
    ]);
    return (await this.getPrice(m.tenantId, m.metric))!;
  }

  async deletePrice(existing: PriceMapping): Promise<void> {
    await insertPriceMapping(this.client, [
      {
        tenantId: existing.tenantId,
        metric: existing.metric,
        meterId: existing.meterId,
        eventName: existing.eventName,
        formula: existing.formula,
        customerPayloadKey: existing.customerPayloadKey,
        valuePayloadKey: existing.valuePayloadKey,
        active: 0,
        deleted: 1,
        updatedAt: now(),
        version: nextVersion(),
      },
    ]);
  }

  async listCustomers(tenantId: string, customerRef = ''): Promise<CustomerMapping[]> {
    return listCustomerMappings(this.client, { tenantId, customerRef });
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
        await insertCustomerOwner(this.client, [{ stripeCustomerId: c.stripeCustomerId, tenantId: c.tenantId, stripeAccount }], {
          insert_deduplicate: 1,
          insert_deduplication_token: ownerClaimToken(c.stripeCustomerId),
        });
        owner = await this.ownerOf(c.stripeCustomerId);
        if (owner !== c.tenantId) return { bound: false, reason: 'owned_by_another_tenant' };
      }
      return { bound: true, ...(await this.putCustomer(c)) };
    });
    this.bindings = run.catch(() => undefined);
    return run;
  }

  private async ownerOf(stripeCustomerId: string): Promise<string | undefined> {
    return (await customerOwner(this.client, { stripeCustomerId }))[0]?.tenantId;
  }

  private async customerRefsOf(tenantId: string, stripeCustomerId: string): Promise<string[]> {
    return (await customerRefsOf(this.client, { tenantId, stripeCustomerId })).map((r) => r.customerRef);
  }

  private async putCustomer(c: { tenantId: string; customerRef: string; stripeCustomerId: string; subscriptionItemId: string }) {
    const existing = (await this.listCustomers(c.tenantId, c.customerRef))[0];
    await insertCustomerMapping(this.client, [
      {
        tenantId: c.tenantId,
        customerRef: c.customerRef,
        stripeCustomerId: c.stripeCustomerId,
        subscriptionItemId: c.subscriptionItemId,
        createdAt: existing ? toClickHouseTime(existing.createdAt) : now(),
        updatedAt: now(),
        version: nextVersion(),
      },
    ]);
    return { created: !existing, mapping: (await this.listCustomers(c.tenantId, c.customerRef))[0]! };
  }

  /** Whether the tenant has any meter or customer binding (its Stripe account may change only while it has none). */
  async hasBindings(tenantId: string): Promise<boolean> {
    return (await this.listPrices(tenantId)).length > 0 || (await this.listCustomers(tenantId)).length > 0;
  }
}
