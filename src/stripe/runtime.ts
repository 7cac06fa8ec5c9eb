import path from 'node:path';
import type Stripe from 'stripe';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { createStripeClient, keyMode, type StripeKeyMode } from './client.js';
import { stripeNodeGateway, type StripeGateway } from './gateway.js';
import { startStripeSandbox } from './sandbox/server.js';

export type StripeRuntime = {
  /** The SDK client, for seeding the sandbox; the service's own Stripe calls go through `gateway`. */
  client: Stripe;
  gateway: StripeGateway;
  mode: StripeKeyMode;
  /** Where requests go: Stripe itself, a configured base, or the built-in sandbox. */
  apiBase: string;
  sandbox: Awaited<ReturnType<typeof startStripeSandbox>> | undefined;
  close(): Promise<void>;
};

/** The key the service uses against a sandbox; any sk_test_ key is accepted there. */
export const sandboxKey = 'sk_test_stripemeter_sandbox';

/**
 * With STRIPE_SECRET_KEY: Stripe (or STRIPE_API_BASE). Without: a sandbox, either the one at STRIPE_API_BASE or the
 * built-in one started here, its state kept in the data directory so it survives restarts.
 */
export async function openStripe(config: Config, log: Logger): Promise<StripeRuntime> {
  const s = config.stripe;
  if (s.secretKey || s.apiBase) {
    const client = createStripeClient({ secretKey: s.secretKey ?? sandboxKey, apiBase: s.apiBase, timeoutMs: s.timeoutMs });
    return { client, gateway: stripeNodeGateway(client), mode: keyMode(s.secretKey), apiBase: s.apiBase ?? 'https://api.stripe.com', sandbox: undefined, close: async () => {} };
  }
  const sandbox = await startStripeSandbox({
    port: s.sandboxPort,
    host: '127.0.0.1',
    stateFile: path.join(config.dataDir, 'stripe-sandbox.jsonl'),
    logger: log.child({ component: 'stripe-sandbox' }),
  });
  log.info({ url: sandbox.url }, 'no STRIPE_SECRET_KEY: using the built-in Stripe sandbox');
  const client = createStripeClient({ secretKey: sandboxKey, apiBase: sandbox.url, timeoutMs: s.timeoutMs });
  return { client, gateway: stripeNodeGateway(client), mode: 'sandbox', apiBase: sandbox.url, sandbox, close: () => sandbox.close() };
}
