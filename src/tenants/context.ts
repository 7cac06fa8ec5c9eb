/**
 * What a request or job needs to know about its tenant, resolved once at its start and passed down: the zone its
 * billing periods are counted in and the Stripe account (Stripe-Account header, undefined for the platform
 * account) every Stripe call made for it carries.
 */
export type TenantContext = { id: string; timeZone: string; stripeAccount: string | undefined };

/** Resolves a tenant's context; rejects for a tenant that does not exist. */
export type TenantContextOf = (tenantId: string) => Promise<TenantContext>;

export class UnknownTenantError extends Error {
  constructor(readonly tenantId: string) {
    super(`unknown tenant: ${tenantId}`);
  }
}
