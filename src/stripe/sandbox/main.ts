import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { validateFaults } from './faults.js';
import { startStripeSandbox, type StripeSandbox } from './server.js';

export const sandboxUsage = `Usage: stripe-sandbox [options]
  --port N                    listen port (default $STRIPE_SANDBOX_PORT or 12111; 0 = any free port)
  --host H                    listen address (default 127.0.0.1)
  --state FILE                journal file, so state survives restarts (default: memory only)
  --api-key KEY               accept only this key (default: any sk_/rk_ test or live key)
  --error-rate R              share of meter event calls answered 500 (nothing committed)
  --rate-limit-rate R         share answered 429 with Retry-After: 1 (nothing committed)
  --timeout-rate R            share held without an answer for --hang-ms, then dropped (nothing committed)
  --hang-ms MS                how long a timed-out call is held (default 30000)
  --drop-after-commit-rate R  share committed, then dropped without an answer
  --latency-ms MS             delay added to every faulted call
  --faults JSON               all of the above at once, e.g. '{"errorRate":0.05,"dropAfterCommitRate":0.01}'
  --fault-routes LIST         comma-separated 'METHOD /path' routes faults apply to, or '*'
  --seed N                    fault PRNG seed
  --identifier-ttl-ms N       meter event identifier dedupe window (default 24h)
  --aggregation-delay-ms N    delay before events show in event summaries (default 0)
  --log-level LEVEL           pino level (default info)`;

function num(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`--${name} must be a number`);
  return n;
}

/** Starts a sandbox from command-line arguments and stops it on SIGINT/SIGTERM. */
export async function runStripeSandboxCli(argv: string[]): Promise<StripeSandbox> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      state: { type: 'string' },
      'api-key': { type: 'string' },
      faults: { type: 'string' },
      'error-rate': { type: 'string' },
      'rate-limit-rate': { type: 'string' },
      'timeout-rate': { type: 'string' },
      'hang-ms': { type: 'string' },
      'drop-after-commit-rate': { type: 'string' },
      'latency-ms': { type: 'string' },
      'fault-routes': { type: 'string' },
      seed: { type: 'string' },
      'identifier-ttl-ms': { type: 'string' },
      'aggregation-delay-ms': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${sandboxUsage}\n`);
    process.exit(0);
  }
  const flagFaults = {
    errorRate: num('error-rate', values['error-rate']),
    rateLimitRate: num('rate-limit-rate', values['rate-limit-rate']),
    timeoutRate: num('timeout-rate', values['timeout-rate']),
    hangMs: num('hang-ms', values['hang-ms']),
    dropAfterCommitRate: num('drop-after-commit-rate', values['drop-after-commit-rate']),
    latencyMs: num('latency-ms', values['latency-ms']),
  };
  const faults = validateFaults({
    ...(values.faults ? JSON.parse(values.faults) : {}),
    ...Object.fromEntries(Object.entries(flagFaults).filter(([, v]) => v !== undefined)),
  });
  const logger = pino({ level: values['log-level'] ?? 'info', base: { service: 'stripe-sandbox' } });
  const sandbox = await startStripeSandbox({
    port: num('port', values.port ?? process.env.STRIPE_SANDBOX_PORT) ?? 12111,
    host: values.host ?? '127.0.0.1',
    stateFile: values.state,
    apiKey: values['api-key'],
    faults,
    faultRoutes: values['fault-routes']?.split(',').map((r) => r.trim()).filter(Boolean),
    seed: num('seed', values.seed),
    identifierTtlMs: num('identifier-ttl-ms', values['identifier-ttl-ms']),
    aggregationDelayMs: num('aggregation-delay-ms', values['aggregation-delay-ms']),
    logger,
  });
  const stop = () => {
    void sandbox.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return sandbox;
}
