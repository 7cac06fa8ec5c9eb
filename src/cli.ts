#!/usr/bin/env node
import { ConfigError, loadConfig } from './config.js';
import { createLogger, resolveLogFormat } from './log.js';
import { migrate, MigrationError } from './storage/migrations.js';
import { runStripeSandboxCli, sandboxUsage } from './stripe/sandbox/main.js';
import { runSqlCli } from './analyst/cli.js';
import { runImportCli } from './import/cli.js';
import { runBackupCli, runRestoreCli } from './lifecycle/cli.js';
import { RestoreError } from './lifecycle/restore.js';

const usage = `stripemeter <command>

Commands:
  start      API and workers in one process (default)
  api        the HTTP API only (no push job)
  workers    the background workers (push job), with the API for health and metrics
  migrate    apply pending migrations and exit
  sql "SELECT ..." [--format table|csv|tsv|json] [--url URL] [--key KEY] [--param name=value]
             run a read-only analyst query through a running server (POST /v1/sql); the key comes
             from STRIPEMETER_KEY, the server from STRIPEMETER_URL; 'stripemeter sql --help' for more
  import FILE|- [--format ndjson|csv|cloudevents] [--errors FILE]
             send usage events from a file (gzip detected) to a running server in batches; safe to
             re-run; key and server as for sql; 'stripemeter import --help' for more
  backup DIR [--url URL] [--key KEY]
             back up a running server's data into DIR, online and incrementally (embedded engine)
  restore DIR [--snapshot ID]
             restore a backup into a new, empty STRIPEMETER_DATA_DIR, with the service stopped
  stripe-sandbox [options]
             a standalone Stripe sandbox (meters, meter events, summaries, customers) with fault
             injection; 'stripemeter stripe-sandbox --help' lists its options

Configuration is read from environment variables; see README.md.`;

// The engine (service, storage) is loaded only by the commands that run it: `sql` and `import` are HTTP clients,
// and loading the embedded engine's library alone costs a few hundred MB of RSS.
async function main(argv: string[]): Promise<number> {
  const command = argv[0] ?? 'start';
  if (command === 'help' || command === '--help' || command === '-h') {
    console.log(usage);
    return 0;
  }
  if (command === 'stripe-sandbox') {
    await runStripeSandboxCli(argv.slice(1)).catch((err: Error) => {
      throw new ConfigError(`stripe-sandbox: ${err.message}\n\n${sandboxUsage}`);
    });
    return -1;
  }
  if (command === 'sql') {
    // Talks to a server over HTTP: no configuration, no storage. Exit once stdout has drained (a piped CSV is long).
    process.exitCode = await runSqlCli(argv.slice(1));
    return -1;
  }
  if (command === 'import') {
    process.exitCode = await runImportCli(argv.slice(1));
    return -1;
  }
  if (command === 'backup') {
    process.exitCode = await runBackupCli(argv.slice(1));
    return -1;
  }
  if (command === 'restore') {
    return runRestoreCli(argv.slice(1));
  }
  const config = loadConfig();
  const log = createLogger(config.logLevel, undefined, resolveLogFormat(config.logFormat, process.stdout.isTTY === true));
  switch (command) {
    case 'start':
    case 'api':
    case 'workers': {
      const { startService } = await import('./service.js');
      const service = await startService(config, log, { workers: command !== 'api' });
      const shutdown = (signal: string) => {
        log.info({ signal }, 'shutting down');
        service.stop().then(
          () => process.exit(0),
          (err) => {
            log.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => shutdown('SIGTERM'));
      process.once('SIGINT', () => shutdown('SIGINT'));
      return -1;
    }
    case 'migrate': {
      const { openStorage } = await import('./storage/client.js');
      const storage = await openStorage(config);
      try {
        const r = await migrate(storage.jobs, { cluster: config.cluster }, undefined, (m) => log.info(m));
        log.info({ applied: r.applied, alreadyApplied: r.alreadyApplied }, 'migrations up to date');
      } finally {
        await storage.close();
      }
      return 0;
    }
    default:
      console.error(`unknown command: ${command}\n\n${usage}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err) => {
    if (err instanceof ConfigError || err instanceof MigrationError || err instanceof RestoreError) console.error(`stripemeter: ${err.message}`);
    else console.error(err);
    process.exit(1);
  },
);
