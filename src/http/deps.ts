import type { ApiKeyStore } from '../auth/keys.js';
import type { Config } from '../config.js';
import type { IngestWriter } from '../ingest/writer.js';
import type { Logger } from '../log.js';
import type { Check } from '../ops/health.js';
import type { Metrics } from '../ops/metrics.js';
import type { Storage } from '../storage/client.js';
import type { TenantStore } from '../tenants/store.js';

/** What route handlers need, built once by the service and passed down. */
export type Deps = {
  config: Config;
  log: Logger;
  storage: Storage;
  metrics: Metrics;
  tenants: TenantStore;
  keys: ApiKeyStore;
  writer: IngestWriter;
  checks: Check[];
};
