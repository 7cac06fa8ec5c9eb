import type { ClickHouseClient } from '@clickhouse/client';
import type { Check } from '../ops/health.js';
import { failedItems } from '../storage/queries/push.js';
import type { PushEngine } from './push.js';
import type { StripeRuntime } from './runtime.js';

/**
 * Stripe parity, as readiness sees it: degraded (never unhealthy: ingest still works) in sandbox mode, when Stripe
 * rejected the key, when push lag passes the threshold, or when items are in permanent error.
 */
export function stripeCheck(
  stripe: StripeRuntime,
  /** The push engine when this process runs the workers. */
  push: PushEngine | undefined,
  client: ClickHouseClient,
  lagThresholdMs: number,
): Check {
  return {
    name: 'stripe',
    critical: false,
    async run() {
      const problems: string[] = [];
      if (stripe.mode === 'sandbox') problems.push(`sandbox mode: no STRIPE_SECRET_KEY, usage goes to the Stripe sandbox at ${stripe.apiBase}`);
      const authError = push?.authError();
      if (authError) problems.push(`Stripe rejected the key: ${authError}`);
      if (push) {
        const lag = push.lagSeconds();
        if (lag * 1000 > lagThresholdMs) problems.push(`push lag ${Math.round(lag)} s exceeds ${lagThresholdMs / 1000} s`);
      }
      const failed = (await failedItems(client, {}))[0]?.failed ?? 0;
      if (failed > 0) problems.push(`${failed} push item(s) in permanent error; see GET /v1/push/status`);
      return problems.length ? { status: 'warn', detail: problems.join('; ') } : { status: 'pass', detail: `${stripe.mode} mode` };
    },
  };
}
