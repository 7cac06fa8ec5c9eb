import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../support/service.js';

// Debian's chromium, headless. Outside CI a machine without it skips this file; in CI it must run (.ci/run installs it).
const executable = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => p && existsSync(p));
const missing = 'GET /docs browser test skipped: no chromium (apt-get install chromium, or set CHROMIUM_PATH)';
if (!executable && !process.env.CI) console.warn(missing);

const artifacts = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'test-artifacts');

describe.skipIf(!executable && !process.env.CI)('API reference page in a real browser', () => {
  let svc: TestService;
  let browser: Browser;
  beforeAll(async () => {
    if (!executable) throw new Error(`${missing}; CI must run it`);
    svc = await startTestService({ PUSH_INTERVAL: 'PT1H', RECON_INTERVAL: 'PT1H' });
    browser = await chromium.launch({ executablePath: executable, headless: true, args: ['--no-sandbox'] });
  });
  afterAll(async () => {
    await browser?.close();
    await svc?.destroy();
  });

  it('renders the spec at GET /docs from assets the service serves itself, with the ingest operation visible', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
    // Offline: every request must go to the service; anything else (a CDN, a validator) is refused and reported.
    const elsewhere: string[] = [];
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith(`${svc.url}/`) || url.startsWith('data:')) return route.continue();
      elsewhere.push(url);
      return route.abort();
    });
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));

    const response = await page.goto(`${svc.url}/docs`);
    expect(response?.status()).toBe(200);
    const ingest = page.locator('.opblock-post', { has: page.locator('.opblock-summary-path[data-path="/v1/events/ingest"]') });
    await ingest.waitFor({ state: 'visible', timeout: 20_000 });
    expect(await ingest.locator('.opblock-summary-description').innerText()).toContain('Ingest a batch of usage events');
    expect(await page.locator('.info .title').innerText()).toContain('stripemeter API');
    // Swagger UI shows its complaints about a spec (unsupported fields, parse errors) above the operations.
    expect(await page.getByText('Warning', { exact: true }).count()).toBe(0);
    expect(await page.locator('.errors-wrapper').count()).toBe(0);

    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: path.join(artifacts, 'docs-reference.png'), fullPage: false });
    expect(elsewhere).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  it('serves only the allow-listed assets', async () => {
    for (const file of ['swagger-ui.css', 'swagger-ui-bundle.js', 'init.js']) {
      const r = await fetch(`${svc.url}/docs/assets/${file}`);
      expect(r.status, file).toBe(200);
      await r.arrayBuffer();
    }
    for (const file of ['package.json', '..%2F..%2Fpackage.json', 'index.html', 'swagger-ui.js.map']) {
      const r = await svc.request('GET', `/docs/assets/${file}`, { key: null });
      expect(r.status, file).toBe(404);
      expect(r.body.error.code).toBe('not_found');
    }
  });
});
