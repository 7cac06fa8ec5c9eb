import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { envVarNames, loadConfig } from '../../src/config.js';
import { packageRoot } from '../../src/storage/paths.js';
import { sandboxKey } from '../../src/stripe/runtime.js';
import { runStripeSandboxCli } from '../../src/stripe/sandbox/main.js';
import type { StripeSandbox } from '../../src/stripe/sandbox/server.js';
import { startTestService, type TestService } from '../support/service.js';
import {
  available,
  commandOf,
  composeConfig,
  composeFiles,
  dependsOn,
  dockerfileInstructions,
  environment,
  envFile,
  execForm,
  flag,
  healthcheckUrl,
  interpolatedNames,
  mounts,
  parseConfig,
  portMappings,
  service,
  shellLines,
  type ComposeConfig,
  type ComposeFile,
} from './compose-helpers.js';

// docker-compose.yml (development), docker-compose.prod.yml (production shape), the Dockerfile and
// ops/prometheus/prometheus.yml, checked against each other and against the service itself: every variable set is
// one the service reads, every port and health-check path is one it serves. `docker-compose config` (the Debian
// docker-compose 1.29 package that .ci/run installs) resolves each file as compose would run it.
const run = promisify(execFile);
const read = (rel: string) => readFileSync(path.join(packageRoot, rel), 'utf8');

const hasCompose = await available('docker-compose', ['version']);
const hasPromtool = await available('promtool', ['--version']);

/** Stand-ins for the secrets docker-compose.prod.yml requires (an operator's .env). */
const prodSecrets: Record<string, string> = {
  STRIPEMETER_ADMIN_KEY: 'compose-test-admin-key-0123456789abcdef',
  METRICS_TOKEN: 'compose-test-metrics-token-0123456789',
  CLICKHOUSE_PASSWORD: 'compose-test-clickhouse-password',
  CLICKHOUSE_ANALYST_PASSWORD: 'compose-test-analyst-password',
  STRIPE_API_BASE: 'http://stripe-sandbox:12111',
};
const varsFor = (file: ComposeFile): Record<string, string> => (file === 'docker-compose.prod.yml' ? prodSecrets : {});

/** The stripemeter processes (the image's CLI) and what each runs. */
const appServices = { api: 'api', workers: 'workers', migrate: 'migrate', 'stripe-sandbox': 'stripe-sandbox' } as const;
const longRunning = ['clickhouse', 'stripe-sandbox', 'api', 'workers'];
const monitoring = ['prometheus', 'grafana'];
/** Set in the image or by the platform, not read by src/config.ts. None is set in the compose files today. */
const containerOnlyVars = new Set(['NODE_ENV', 'NODE_OPTIONS', 'TZ']);
/** Where the app listens inside its container: PORT, else the config default. */
const listenPort = (env: Record<string, string>) => loadConfig(env).port;

const inCi = process.env.CI === 'true';

describe('tools', () => {
  it.runIf(inCi)('docker-compose and promtool are installed (CI must not skip these checks)', () => {
    expect(hasCompose, 'docker-compose is missing: .ci/run installs the Debian docker-compose package').toBe(true);
    expect(hasPromtool, 'promtool is missing: .ci/run installs the Debian prometheus package').toBe(true);
  });
});

describe('Dockerfile', () => {
  const steps = dockerfileInstructions(read('Dockerfile'));
  const froms = steps.filter((s) => s.instruction === 'FROM');
  const last = froms.length - 1;
  const final = steps.filter((s) => s.stage === last);

  it('is multi-stage on node:20-bookworm-slim: build (npm ci, npm run build), then runtime (production deps only)', () => {
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const f of froms) expect(f.args).toMatch(/^node:20-bookworm-slim\b/);
    const build = steps.filter((s) => s.stage < last && s.instruction === 'RUN').map((s) => s.args);
    expect(build.some((a) => /\bnpm ci\b/.test(a))).toBe(true);
    expect(build.some((a) => /\bnpm run build\b/.test(a))).toBe(true);
    const runtimeRuns = final.filter((s) => s.instruction === 'RUN').map((s) => s.args);
    expect(runtimeRuns.some((a) => /\bnpm ci\b.*--omit=dev/.test(a))).toBe(true);
  });

  it('ships the compiled CLI, migrations and sql (the package root is found by package.json + migrations/)', () => {
    const copies = final.filter((s) => s.instruction === 'COPY').map((s) => s.args);
    expect(copies.some((a) => /^--from=\S+\s+\S*dist/.test(a))).toBe(true);
    for (const dir of ['migrations', 'sql', 'package.json']) expect(copies.some((a) => a.split(/\s+/).includes(dir) || a.startsWith(`${dir} `))).toBe(true);
  });

  it('runs as a non-root user, entrypoint the package bin (dist/src/cli.js)', () => {
    const users = final.filter((s) => s.instruction === 'USER');
    expect(users.length).toBeGreaterThan(0);
    const user = users.at(-1)!.args.split(':')[0];
    expect(['root', '0']).not.toContain(user);
    // USER comes after every RUN of the final stage (nothing later runs as root).
    expect(final.lastIndexOf(users.at(-1)!)).toBeGreaterThan(Math.max(...final.map((s, i) => (s.instruction === 'RUN' ? i : -1))));
    const entry = final.filter((s) => s.instruction === 'ENTRYPOINT' || s.instruction === 'CMD').flatMap((s) => execForm(s.args));
    const bin = (JSON.parse(read('package.json')) as { bin: Record<string, string> }).bin.stripemeter;
    expect(bin).toBe('dist/src/cli.js');
    expect(entry).toContain(bin);
  });

  it('.dockerignore keeps node_modules, build output and secrets out of the build context', () => {
    const ignore = read('.dockerignore').split('\n').map((l) => l.trim());
    for (const p of ['node_modules', 'dist', '.env', '.git']) expect(ignore).toContain(p);
  });
});

describe.skipIf(!hasCompose)('compose files', () => {
  const configs = {} as Record<ComposeFile, ComposeConfig>;
  beforeAll(async () => {
    for (const file of composeFiles) configs[file] = parseConfig(await composeConfig(file, { vars: varsFor(file), profiles: ['monitoring'] }));
  });

  for (const file of composeFiles) {
    describe(file, () => {
      const cfg = () => configs[file];

      it('`docker-compose config` accepts it, without and with --profile monitoring', async () => {
        const plain = await composeConfig(file, { vars: varsFor(file), args: ['-q'] });
        expect(plain.ok, plain.stderr).toBe(true);
        const withProfile = await composeConfig(file, { vars: varsFor(file), profiles: ['monitoring'], args: ['--services'] });
        expect(withProfile.ok, withProfile.stderr).toBe(true);
        expect(withProfile.stdout.split('\n')).toEqual(expect.arrayContaining(['prometheus', 'grafana']));
      });

      it('runs clickhouse, migrate, stripe-sandbox, api and workers by default; prometheus and grafana under profile monitoring', () => {
        const services = cfg().services;
        const backup = file === 'docker-compose.prod.yml' ? ['backup'] : [];
        expect(Object.keys(services).sort()).toEqual([...longRunning, 'migrate', ...monitoring, ...backup].sort());
        for (const name of backup) expect(services[name]!.profiles, name).toEqual(['backup']);
        for (const name of [...longRunning, 'migrate']) expect(services[name]!.profiles ?? [], name).toEqual([]);
        for (const name of monitoring) expect(services[name]!.profiles, name).toEqual(['monitoring']);
      });

      it('names the containers stripemeter-api and stripemeter-workers (docker logs in the runbook)', () => {
        expect(service(cfg(), 'api').container_name).toBe('stripemeter-api');
        expect(service(cfg(), 'workers').container_name).toBe('stripemeter-workers');
      });

      it('runs api, workers, migrate and stripe-sandbox from one image built from the Dockerfile, each its CLI command', () => {
        const cli = read('src/cli.ts');
        const images = new Set<string>();
        for (const [name, command] of Object.entries(appServices)) {
          const s = service(cfg(), name);
          const context = typeof s.build === 'string' ? s.build : s.build?.context;
          expect(context && path.resolve(packageRoot, context), name).toBe(packageRoot);
          images.add(String(s.image));
          expect(commandOf(s)[0], name).toBe(command);
          expect(cli).toContain(`'${command}'`);
        }
        expect(images.size).toBe(1);
      });

      it('sets only environment variables the service reads, with values its configuration accepts', () => {
        for (const name of Object.keys(appServices)) {
          const env = environment(service(cfg(), name));
          const unknown = Object.keys(env).filter((k) => !envVarNames.includes(k) && !containerOnlyVars.has(k));
          expect(unknown, `${name} sets variables src/config.ts does not read`).toEqual([]);
          expect(() => loadConfig(env), name).not.toThrow();
        }
      });

      it('api, workers and migrate share one ClickHouse (the clickhouse service and its credentials); api and workers one admin key and Stripe target', () => {
        const ch = environment(service(cfg(), 'clickhouse'));
        expect(ch.CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT).toBe('1');
        const api = environment(service(cfg(), 'api'));
        const workers = environment(service(cfg(), 'workers'));
        for (const name of ['api', 'workers', 'migrate']) {
          const env = environment(service(cfg(), name));
          const config = loadConfig(env);
          expect(config.clickhouse.mode, name).toBe('server');
          if (config.clickhouse.mode !== 'server') continue;
          const url = new URL(config.clickhouse.url);
          expect(url.hostname, name).toBe('clickhouse');
          expect(url.port, name).toBe('8123');
          expect(config.clickhouse.username, name).toBe(ch.CLICKHOUSE_USER);
          expect(config.clickhouse.password, name).toBe(ch.CLICKHOUSE_PASSWORD);
          expect(config.clickhouse.database, name).toBe(ch.CLICKHOUSE_DB);
          // Analysts' SQL as the read-only user the clickhouse container creates on first start.
          expect(config.clickhouse.analyst, name).toEqual({ username: ch.CLICKHOUSE_ANALYST_USER, password: ch.CLICKHOUSE_ANALYST_PASSWORD });
        }
        const volumes = (service(cfg(), 'clickhouse') as { volumes?: Array<string | { source?: string; target?: string }> }).volumes ?? [];
        const mounts = volumes.map((v) => (typeof v === 'string' ? v : `${v.source}:${v.target}`));
        expect(mounts.some((m) => /ops\/clickhouse\/analyst-user\.sh:\/docker-entrypoint-initdb\.d\/analyst-user\.sh/.test(m)), mounts.join()).toBe(true);
        for (const k of ['STRIPEMETER_ADMIN_KEY', 'STRIPE_SECRET_KEY', 'STRIPE_API_BASE', 'CLICKHOUSE_URL', 'PORT']) expect(workers[k], k).toBe(api[k]);
        // Each process would otherwise generate its own admin key in its own container.
        expect(loadConfig(api).adminKey).toBeTruthy();
        expect(loadConfig(api).host).toBe('0.0.0.0');
        expect(loadConfig(workers).host).toBe('0.0.0.0');
      });

      it('uses the stripe-sandbox service when no STRIPE_SECRET_KEY is given', () => {
        const sandbox = commandOf(service(cfg(), 'stripe-sandbox'));
        const env = environment(service(cfg(), 'api'));
        expect(env.STRIPE_SECRET_KEY ?? '').toBe('');
        const base = new URL(env.STRIPE_API_BASE!);
        expect(base.hostname).toBe('stripe-sandbox');
        expect(base.port).toBe(flag(sandbox, '--port'));
        expect(flag(sandbox, '--host')).toBe('0.0.0.0');
        // Only the key stripemeter uses without STRIPE_SECRET_KEY: a real key sent here by mistake is refused.
        expect(flag(sandbox, '--api-key')).toBe(sandboxKey);
        // The sandbox journal lives in a volume.
        const state = flag(sandbox, '--state')!;
        expect(mounts(service(cfg(), 'stripe-sandbox')).some((m) => state.startsWith(`${m.target}/`) && !m.source.startsWith('/'))).toBe(true);
      });

      it('publishes the API on ${STRIPEMETER_PORT:-3000}, workers on ${WORKERS_PORT:-3002}, Prometheus on ${PROMETHEUS_PORT:-9090}, Grafana on ${GRAFANA_PORT:-3001}', async () => {
        const defaults = { api: '3000', workers: '3002', prometheus: '9090', grafana: '3001' };
        const targets = {
          api: listenPort(environment(service(cfg(), 'api'))),
          workers: listenPort(environment(service(cfg(), 'workers'))),
          prometheus: 9090,
          grafana: 3000,
        };
        for (const [name, published] of Object.entries(defaults)) {
          const ports = portMappings(service(cfg(), name));
          expect(ports, name).toHaveLength(1);
          expect(ports[0], name).toMatchObject({ published, target: targets[name as keyof typeof targets] });
        }
        // Nothing is published beyond this machine (a TLS reverse proxy fronts the API for other machines).
        for (const [name, s] of Object.entries(cfg().services)) {
          for (const p of portMappings(s)) expect(p.hostIp, `${name} publishes ${p.published} on every interface`).toBe('127.0.0.1');
        }
        expect(targets.api).toBe(3000);
        expect(targets.workers).toBe(3000);
        const overridden = parseConfig(
          await composeConfig(file, {
            vars: { ...varsFor(file), STRIPEMETER_PORT: '13000', WORKERS_PORT: '13002', PROMETHEUS_PORT: '19090', GRAFANA_PORT: '13001' },
            profiles: ['monitoring'],
          }),
        );
        expect(portMappings(service(overridden, 'api'))[0]!.published).toBe('13000');
        expect(portMappings(service(overridden, 'workers'))[0]!.published).toBe('13002');
        expect(portMappings(service(overridden, 'prometheus'))[0]!.published).toBe('19090');
        expect(portMappings(service(overridden, 'grafana'))[0]!.published).toBe('13001');
      });

      it('starts in order: clickhouse healthy, then migrate to completion, then api and workers', () => {
        expect(dependsOn(service(cfg(), 'migrate'))).toMatchObject({ clickhouse: 'service_healthy' });
        for (const name of ['api', 'workers']) {
          expect(dependsOn(service(cfg(), name)), name).toMatchObject({ clickhouse: 'service_healthy', migrate: 'service_completed_successfully' });
        }
        // Every service something waits on as "healthy" has a health check; long-running ones all do.
        for (const s of Object.values(cfg().services)) {
          for (const [dep, condition] of Object.entries(dependsOn(s))) {
            if (condition === 'service_healthy') expect(service(cfg(), dep).healthcheck?.test, dep).toBeTruthy();
          }
        }
        for (const name of [...longRunning, ...monitoring]) expect(healthcheckUrl(service(cfg(), name)), name).toBeDefined();
        // A one-shot: restarting it would re-run migrate forever.
        expect([undefined, 'no', 'on-failure']).toContain(service(cfg(), 'migrate').restart);
      });

      it('health checks probe the port each container listens on', () => {
        const expected: Record<string, number> = {
          api: listenPort(environment(service(cfg(), 'api'))),
          workers: listenPort(environment(service(cfg(), 'workers'))),
          'stripe-sandbox': Number(flag(commandOf(service(cfg(), 'stripe-sandbox')), '--port')),
          clickhouse: 8123,
          prometheus: 9090,
          grafana: 3000,
        };
        for (const [name, port] of Object.entries(expected)) {
          const url = healthcheckUrl(service(cfg(), name))!;
          expect(['127.0.0.1', 'localhost'], name).toContain(url.hostname);
          expect(Number(url.port), name).toBe(port);
        }
        expect(healthcheckUrl(service(cfg(), 'clickhouse'))!.pathname).toBe('/ping');
      });

      it('pins every image (ClickHouse 25.x/26.x)', () => {
        for (const [name, s] of Object.entries(cfg().services)) {
          if (Object.keys(appServices).includes(name)) continue;
          expect(s.image, name).toMatch(/:[v]?\d+(\.\d+)+(-\w+)?$/);
        }
        expect(service(cfg(), 'clickhouse').image).toMatch(/^clickhouse\/clickhouse-server:2[56]\.\d+/);
        expect(service(cfg(), 'prometheus').image).toMatch(/^prom\/prometheus:v\d+\.\d+\.\d+$/);
        expect(service(cfg(), 'grafana').image).toMatch(/^grafana\/grafana:\d+\.\d+\.\d+$/);
        expect(environment(service(cfg(), 'grafana')).GF_PLUGINS_PREINSTALL_SYNC).toMatch(/^grafana-clickhouse-datasource@\d+\.\d+\.\d+$/);
      });

      it('mounts prometheus.yml and the alert rules it names into Prometheus, and Grafana provisioning and dashboards', () => {
        const prom = mounts(service(cfg(), 'prometheus'));
        const at = (target: string) => prom.find((m) => m.target === target);
        expect(at('/etc/prometheus/prometheus.yml')?.source).toBe(path.join(packageRoot, 'ops/prometheus/prometheus.yml'));
        const promConfig = parse(read('ops/prometheus/prometheus.yml')) as { rule_files?: string[] };
        for (const rules of promConfig.rule_files ?? []) expect(at(rules), rules).toBeDefined();
        expect(at('/etc/prometheus/alerts.yml')?.source).toBe(path.join(packageRoot, 'ops/prometheus/alerts.yml'));
        const graf = mounts(service(cfg(), 'grafana'));
        expect(graf.find((m) => m.target === '/etc/grafana/provisioning')?.source).toBe(path.join(packageRoot, 'grafana/provisioning'));
        expect(graf.find((m) => m.target === '/var/lib/grafana/dashboards')?.source).toBe(path.join(packageRoot, 'grafana/dashboards'));
        const grafEnv = environment(service(cfg(), 'grafana'));
        expect(grafEnv.GF_SECURITY_ADMIN_USER).toBe('admin');
        expect(grafEnv.GF_SECURITY_ADMIN_PASSWORD).toBe('admin');
      });

      it('prometheus.yml scrapes api and workers at the service names and the port they listen on', () => {
        const promConfig = parse(read('ops/prometheus/prometheus.yml')) as {
          scrape_configs: Array<{ job_name: string; metrics_path?: string; static_configs?: Array<{ targets: string[] }> }>;
        };
        const jobs = Object.fromEntries(promConfig.scrape_configs.map((j) => [j.job_name, j]));
        expect(Object.keys(jobs)).toEqual(expect.arrayContaining(['stripemeter-api', 'stripemeter-workers']));
        const expectedHost = { 'stripemeter-api': 'api', 'stripemeter-workers': 'workers' } as Record<string, string>;
        for (const job of promConfig.scrape_configs) {
          const targets = (job.static_configs ?? []).flatMap((c) => c.targets);
          expect(targets.length, job.job_name).toBeGreaterThan(0);
          for (const target of targets) {
            const [host = '', port = ''] = target.split(':');
            const s = service(cfg(), host);
            expect(s.profiles ?? [], `${target}: started with the monitoring profile`).toEqual([]);
            expect(Number(port), target).toBe(listenPort(environment(s)));
            if (expectedHost[job.job_name]) expect(host).toBe(expectedHost[job.job_name]);
          }
          if (expectedHost[job.job_name]) expect(job.metrics_path ?? '/metrics').toBe('/metrics');
        }
      });

      it('Prometheus scrapes with the METRICS_TOKEN api and workers require, from a file written on a tmpfs at start', () => {
        const promConfig = parse(read('ops/prometheus/prometheus.yml')) as {
          scrape_configs: Array<{ job_name: string; authorization?: { type?: string; credentials_file?: string; credentials?: string } }>;
        };
        const prom = service(cfg(), 'prometheus');
        const token = environment(prom).METRICS_TOKEN;
        expect(token).toBeTruthy();
        for (const name of ['api', 'workers']) expect(loadConfig(environment(service(cfg(), name))).metricsToken, name).toBe(token);
        // `docker-compose config` keeps compose's `$$` escape; the container's shell sees `$`.
        const script = ([] as string[]).concat(prom.entrypoint ?? []).join(' ').replaceAll('$$', '$');
        const tmpfs = ([] as string[]).concat(prom.tmpfs ?? []);
        for (const job of promConfig.scrape_configs) {
          expect(job.authorization?.type ?? 'Bearer', job.job_name).toBe('Bearer');
          expect(job.authorization?.credentials, job.job_name).toBeUndefined();
          const file = job.authorization?.credentials_file ?? '';
          expect(tmpfs.some((dir) => file.startsWith(`${dir.split(':')[0]}/`)), `${job.job_name}: ${file} on a tmpfs`).toBe(true);
          // The entrypoint writes the token there, then runs Prometheus with the service's command.
          expect(script).toContain(`printf '%s' "$METRICS_TOKEN" > ${file} && exec /bin/prometheus "$@"`);
        }
      });
    });
  }

  describe('docker-compose.prod.yml', () => {
    const prod = () => configs['docker-compose.prod.yml'];
    const raw = read('docker-compose.prod.yml');

    it('has no default secrets: refuses to run without STRIPEMETER_ADMIN_KEY, CLICKHOUSE_PASSWORD, STRIPE_API_BASE, naming each', async () => {
      const { required } = interpolatedNames(raw);
      expect([...required].sort()).toEqual(Object.keys(prodSecrets).sort());
      for (const missing of required) {
        const vars = { ...prodSecrets };
        delete vars[missing];
        const out = await composeConfig('docker-compose.prod.yml', { vars, args: ['-q'] });
        expect(out.ok, missing).toBe(false);
        expect(out.stderr).toContain(missing);
      }
    });

    it('restarts long-running services unless stopped, never the one-shot migrate; limits resources', () => {
      for (const name of [...longRunning, ...monitoring]) expect(service(prod(), name).restart, name).toBe('unless-stopped');
      expect(service(prod(), 'migrate').restart).toBe('no');
      expect(service(prod(), 'backup').restart).toBe('no');
      for (const name of Object.keys(prod().services)) {
        const limits = (prod().services[name] as { deploy?: { resources?: { limits?: { memory?: string; cpus?: string | number } } } }).deploy
          ?.resources?.limits;
        expect(limits?.memory, name).toBeTruthy();
        // Docker refuses a container whose CPU limit exceeds the host's CPUs: stay runnable on a 1-CPU machine.
        if (limits?.cpus !== undefined) expect(Number(limits.cpus), name).toBeLessThanOrEqual(1);
      }
    });

    it('backs up through the server: the backup disk is declared, and the backup service shares it with ClickHouse', () => {
      const pairs = (name: string) => mounts(service(prod(), name)).map((m) => `${m.source}:${m.target}`);
      expect(pairs('clickhouse')).toEqual(expect.arrayContaining([expect.stringMatching(/ops\/clickhouse\/backups\.xml:\/etc\/clickhouse-server\/config\.d\/backups\.xml$/), 'clickhouse-backups:/backups']));
      expect(pairs('backup')).toEqual(expect.arrayContaining([expect.stringMatching(/ops\/clickhouse\/backup\.sh:\/backup\.sh$/), 'clickhouse-backups:/backups']));
      const xml = readFileSync(path.join(packageRoot, 'ops/clickhouse/backups.xml'), 'utf8');
      expect(xml).toMatch(/<backups>\s*<type>local<\/type>\s*<path>\/backups\/<\/path>/);
      expect(xml).toMatch(/<allowed_disk>backups<\/allowed_disk>/);
      expect(readFileSync(path.join(packageRoot, 'ops/clickhouse/backup.sh'), 'utf8')).toMatch(/BACKUP DATABASE .* TO Disk\('backups'/);
    });

    it('does not seed the demo tenant by default and does not publish ClickHouse or the sandbox', () => {
      expect(loadConfig(environment(service(prod(), 'api'))).demoTenant).toBe(false);
      expect(portMappings(service(prod(), 'clickhouse'))).toEqual([]);
      expect(portMappings(service(prod(), 'stripe-sandbox'))).toEqual([]);
    });
  });

  describe('.env.example', () => {
    const example = read('.env.example');
    const lines = example.split('\n');
    const setting = (name: string) => lines.some((l) => new RegExp(`^#?${name}=`).test(l));

    it('lists every variable the compose files interpolate', () => {
      for (const file of composeFiles) {
        for (const name of interpolatedNames(read(file)).all) expect(setting(name), `${file}: ${name}`).toBe(true);
      }
    });

    it('as shipped, prod refuses to start (secrets empty); once they are filled in, both files resolve', async () => {
      const shipped = await composeConfig('docker-compose.prod.yml', { envFile: path.join(packageRoot, '.env.example'), args: ['-q'] });
      expect(shipped.ok).toBe(false);
      const filled = lines
        .map((l) => {
          const m = /^([A-Z_]+)=$/.exec(l);
          return m && prodSecrets[m[1]!] !== undefined ? `${m[1]}=${prodSecrets[m[1]!]}` : l;
        })
        .join('\n');
      const env = envFile();
      writeFileSync(env, filled);
      for (const file of composeFiles) {
        const out = await composeConfig(file, { envFile: env });
        expect(out.ok, `${file}: ${out.stderr}`).toBe(true);
        const api = environment(service(parseConfig(out), 'api'));
        expect(api.STRIPE_API_BASE, file).toBe('http://stripe-sandbox:12111');
        expect(() => loadConfig(api), file).not.toThrow();
      }
    });
  });

  describe('grafana/provisioning', () => {
    const dir = path.join(packageRoot, 'grafana/provisioning');
    const files = existsSync(dir)
      ? (readdirSync(dir, { recursive: true }) as string[]).filter((f) => /\.ya?ml$/.test(f)).map((f) => path.join(dir, f))
      : [];
    /** Grafana expands $VAR and ${VAR} in provisioning files from its own environment. */
    const expand = (value: unknown, env: Record<string, string>) =>
      String(value).replace(/\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)/g, (_, a: string | undefined, b: string | undefined) => env[(a ?? b)!] ?? '');

    it.runIf(files.length > 0)('expands only variables the grafana container has, and its datasources reach the compose services', () => {
      for (const file of composeFiles) {
        const env = environment(service(configs[file], 'grafana'));
        const ch = environment(service(configs[file], 'clickhouse'));
        for (const f of files) {
          const text = readFileSync(f, 'utf8');
          for (const m of text.replace(/^\s*#.*$/gm, '').matchAll(/\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)/g)) {
            const name = (m[1] ?? m[2])!;
            expect(env[name], `${path.relative(packageRoot, f)} uses $${name}: set it on ${file}'s grafana service`).toBeDefined();
          }
          const doc = parse(text) as {
            datasources?: Array<{ type: string; url?: string; jsonData?: Record<string, unknown> }>;
            providers?: Array<{ options?: { path?: string } }>;
          };
          for (const ds of doc.datasources ?? []) {
            if (ds.type === 'prometheus') {
              const url = new URL(expand(ds.url, env));
              expect(service(configs[file], url.hostname).image).toMatch(/^prom\/prometheus:/);
              expect(url.port).toBe('9090');
            }
            if (ds.type === 'grafana-clickhouse-datasource') {
              expect(env.GF_PLUGINS_PREINSTALL_SYNC).toContain('grafana-clickhouse-datasource@');
              const j = ds.jsonData ?? {};
              expect(expand(j.host, env)).toBe('clickhouse');
              expect(String(j.port)).toBe('8123');
              expect(expand(j.username, env), `${file}: the ClickHouse datasource's user (the image creates only CLICKHOUSE_USER)`).toBe(ch.CLICKHOUSE_USER);
              expect(expand(j.defaultDatabase, env)).toBe(ch.CLICKHOUSE_DB);
            }
          }
          const targets = mounts(service(configs[file], 'grafana')).map((m) => m.target);
          for (const p of doc.providers ?? []) if (p.options?.path) expect(targets, p.options.path).toContain(p.options.path);
        }
      }
    });
  });

  describe('ops/RUNBOOK.md', () => {
    it.runIf(existsSync(path.join(packageRoot, 'ops/RUNBOOK.md')))('its docker commands name files, profiles and containers that exist', async () => {
      const lines = shellLines(read('ops/RUNBOOK.md'));
      const containers = new Set(
        Object.values(configs['docker-compose.yml'].services)
          .map((s) => s.container_name)
          .filter(Boolean),
      );
      for (const line of lines) {
        const compose = /docker[- ]compose\s+-f\s+(\S+)(.*)/.exec(line);
        if (compose) {
          const file = compose[1]!;
          expect(composeFiles as readonly string[], line).toContain(file);
          const profiles = [...compose[2]!.matchAll(/--profile\s+(\S+)/g)].map((m) => m[1]!);
          const declared = (await composeConfig(file as ComposeFile, { vars: varsFor(file as ComposeFile), args: ['--profiles'] })).stdout.split('\n');
          for (const p of profiles) expect(declared, line).toContain(p);
        }
        const logs = /docker logs\b.*?\s(stripemeter-[\w-]+)/.exec(line);
        if (logs) expect(containers.has(logs[1]!), line).toBe(true);
      }
    });
  });
});

describe.skipIf(!hasPromtool)('ops/prometheus/prometheus.yml', () => {
  it('passes promtool check config (rule files mapped to their repository paths)', async () => {
    const config = parse(read('ops/prometheus/prometheus.yml')) as Record<string, unknown> & { rule_files?: string[] };
    expect(config.rule_files).toContain('/etc/prometheus/alerts.yml');
    expect(config.global).toMatchObject({ scrape_interval: '15s', evaluation_interval: '15s' });
    // In the container the rules sit next to the config (/etc/prometheus/X <- ops/prometheus/X, see the compose
    // mounts); files another change has not written yet are left out rather than failing the config check.
    const rules = (config.rule_files ?? []).map((f) => path.join(packageRoot, 'ops/prometheus', path.basename(f))).filter((f) => existsSync(f));
    const dir = mkdtempSync(path.join(os.tmpdir(), 'stripemeter-promtool-'));
    try {
      const file = path.join(dir, 'prometheus.yml');
      const copy: Record<string, unknown> = { ...config };
      // The token file exists only in the container; a stand-in lets promtool check the rest.
      const tokenFile = path.join(dir, 'metrics-token');
      writeFileSync(tokenFile, 'promtool-check-token-0123456789');
      copy.scrape_configs = (config.scrape_configs as Array<Record<string, any>>).map((job) =>
        job.authorization?.credentials_file ? { ...job, authorization: { ...job.authorization, credentials_file: tokenFile } } : job,
      );
      if (rules.length) copy.rule_files = rules;
      else delete copy.rule_files;
      writeFileSync(file, stringify(copy));
      const { stdout, stderr } = await run('promtool', ['check', 'config', file]).catch((err: { stdout?: string; stderr?: string }) => {
        throw new Error(`promtool check config failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
      });
      expect(`${stdout}${stderr}`).toContain('SUCCESS');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// The real service, configured as the compose api service is (minus what only exists inside the compose network),
// against a Stripe sandbox started from the stripe-sandbox service's own command line.
describe.skipIf(!hasCompose)('health checks and scrapes reach endpoints the service serves', () => {
  const configs = {} as Record<ComposeFile, ComposeConfig>;
  let sandbox: StripeSandbox;
  let svc: TestService;
  let stateDir: string;

  beforeAll(async () => {
    for (const file of composeFiles) configs[file] = parseConfig(await composeConfig(file, { vars: varsFor(file), profiles: ['monitoring'] }));
    const dev = configs['docker-compose.yml'];
    stateDir = mkdtempSync(path.join(os.tmpdir(), 'stripemeter-compose-sandbox-'));
    const args = commandOf(service(dev, 'stripe-sandbox')).slice(1);
    const set = (name: string, value: string) => {
      const i = args.indexOf(name);
      if (i >= 0) args[i + 1] = value;
      else args.push(name, value);
    };
    set('--port', '0');
    set('--host', '127.0.0.1');
    set('--state', path.join(stateDir, 'stripe-sandbox.jsonl'));
    set('--log-level', 'silent');
    sandbox = await runStripeSandboxCli(args);
    const env = environment(service(dev, 'api'));
    for (const k of ['CLICKHOUSE_URL', 'HOST', 'PORT']) delete env[k];
    svc = await startTestService({ ...env, STRIPE_API_BASE: sandbox.url });
  });

  afterAll(async () => {
    await svc?.destroy();
    await sandbox?.close();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it('api and workers health checks answer 200', async () => {
    for (const file of composeFiles) {
      for (const name of ['api', 'workers']) {
        const url = healthcheckUrl(service(configs[file], name))!;
        expect(url.pathname, `${file} ${name}`).toMatch(/^\/health\/(live|ready)$/);
        const r = await svc.request('GET', url.pathname, { key: null });
        expect(r.status, `${file} ${name} ${url.pathname}: ${JSON.stringify(r.body)}`).toBe(200);
      }
    }
  });

  it('the metrics path Prometheus scrapes answers 200 with Prometheus text to its token, 401 without', async () => {
    const promConfig = parse(read('ops/prometheus/prometheus.yml')) as { scrape_configs: Array<{ metrics_path?: string }> };
    const token = environment(service(configs['docker-compose.yml'], 'prometheus')).METRICS_TOKEN;
    for (const job of promConfig.scrape_configs) {
      const r = await svc.request('GET', job.metrics_path ?? '/metrics', { key: null, headers: { authorization: `Bearer ${token}` } });
      expect(r.status).toBe(200);
      expect(String(r.body)).toContain('# HELP');
      expect((await svc.request('GET', job.metrics_path ?? '/metrics', { key: null })).status).toBe(401);
    }
  });

  it('the sandbox health check answers 200; the sandbox refuses any key but the one stripemeter uses without STRIPE_SECRET_KEY', async () => {
    for (const file of composeFiles) {
      const url = healthcheckUrl(service(configs[file], 'stripe-sandbox'))!;
      expect((await fetch(`${sandbox.url}${url.pathname}`)).status, file).toBe(200);
    }
    const customers = (key: string) => fetch(`${sandbox.url}/v1/customers`, { headers: { authorization: `Bearer ${key}` } });
    expect((await customers('sk_live_a_real_key_sent_to_the_sandbox_by_mistake')).status).toBe(401);
    expect((await customers(sandboxKey)).status).toBe(200);
    // The service, configured as compose configures it, reached the sandbox: the demo tenant got its meter there.
    expect(svc.deps.stripe.mode).toBe('sandbox');
    expect(await svc.deps.mappings.getPrice('demo', 'requests')).toBeTruthy();
    expect(sandbox.counts().meters).toBeGreaterThan(0);
  });
});
