import Stripe from 'stripe';

/** The Stripe API version every request pins, so a Stripe-side default change cannot alter what we send. */
export const stripeApiVersion = '2026-10-28.endive';

export type StripeTarget = { secretKey: string; apiBase?: string | undefined; timeoutMs: number };

/**
 * The real stripe-node client. `apiBase` (a URL) maps to its host/port/protocol, which is how the built-in sandbox
 * or any Stripe-compatible endpoint is reached. stripe-node's own retries are off: the push job retries itself,
 * with the same meter event identifier, honouring Retry-After (stripe-node does not retry 429).
 */
export function createStripeClient(target: StripeTarget): Stripe {
  const base = target.apiBase ? new URL(target.apiBase) : undefined;
  return new Stripe(target.secretKey, {
    apiVersion: stripeApiVersion as Stripe.LatestApiVersion,
    maxNetworkRetries: 0,
    timeout: target.timeoutMs,
    telemetry: false,
    ...(base
      ? {
          host: base.hostname,
          port: base.port ? Number(base.port) : base.protocol === 'https:' ? 443 : 80,
          protocol: base.protocol === 'http:' ? 'http' : 'https',
        }
      : {}),
  });
}

export type StripeKeyMode = 'live' | 'test' | 'sandbox';

export function keyMode(secretKey: string | undefined): StripeKeyMode {
  if (!secretKey) return 'sandbox';
  return /^(sk|rk)_live_/.test(secretKey) ? 'live' : 'test';
}

/**
 * Request options for a call made for a tenant: its connected account as the Stripe-Account header, or nothing (the
 * platform account). Every Stripe call made for a tenant passes these.
 */
export function accountOptions(stripeAccount: string | undefined): Stripe.RequestOptions | undefined {
  return stripeAccount ? { stripeAccount } : undefined;
}
