import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/storage/paths.js';
import { alertRules, alertTestCases, anchorOf, headingAnchors, paths } from './prometheus-files.js';
import { promtoolBin, requireBinary } from './prometheus-server.js';

const promtool = (...args: string[]) => {
  const r = spawnSync(promtoolBin, args, { cwd: packageRoot, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
};

const rules = alertRules();
const doc = readFileSync(paths.alertsDoc, 'utf8');

/** The markdown of the ALERTS.md section of one alert (its `## Name` heading to the next `## `). */
function docSection(name: string): string {
  const start = doc.search(new RegExp(`^## ${name}\\s*$`, 'm'));
  if (start < 0) return '';
  const next = doc.slice(start + 1).search(/^## /m);
  return next < 0 ? doc.slice(start) : doc.slice(start, start + 1 + next);
}

describe('alert rules (ops/prometheus/alerts.yml)', () => {
  beforeAll(() => requireBinary(promtoolBin));

  it('pass promtool check rules', () => {
    const r = promtool('check', 'rules', 'ops/prometheus/alerts.yml');
    expect(r.output).toContain('SUCCESS');
    expect(r.status, r.output).toBe(0);
    // the file's own parser and this test's agree on what the file holds
    expect(r.output).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it('pass their promtool unit tests (ops/prometheus/alerts.test.yml)', () => {
    const r = promtool('test', 'rules', 'ops/prometheus/alerts.test.yml');
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');
  });

  it('cover what the service must alert on', () => {
    const names = rules.map((r) => r.name);
    expect(new Set(names).size).toBe(names.length);
    const exprs = rules.map((r) => r.expr).join('\n');
    for (const needle of [
      'max_over_time(reconciliation_diff_pct[15m]) > 0.005',
      'abs(reconciliation_diff_abs)',
      'increase(recon_runs_total[1h])',
      'absent_over_time(recon_runs_total[1h])',
      'recon_runs_total{result="error"}',
      'histogram_quantile(0.95, sum(rate(recon_duration_seconds_bucket',
      'http_request_duration_seconds_bucket{route="/v1/events/ingest"}',
      'http_requests_total{status_code=~"5.."}',
      'stripe_push_lag_seconds > 300',
      'stripe_api_errors_total',
      'push_unpushable_units',
      'push_items{status="unpushable"}',
      'increase(late_events_beyond_window_total[1h])',
      'readiness_status',
      'storage_volume_free_bytes / storage_volume_size_bytes < 0.15',
      'predict_linear(storage_volume_free_bytes[6h], 86400) < 0',
      'storage_volume_free_bytes < storage_volume_min_free_bytes',
    ]) {
      expect(exprs, needle).toContain(needle);
    }
    const driftPct = rules.find((r) => r.expr.includes('reconciliation_diff_pct'))!;
    expect(driftPct).toMatchObject({ for: '15m', labels: { severity: 'critical' } });
    expect(rules.find((r) => r.expr.includes('stripe_push_lag_seconds > 300'))!.for).toBe('10m');
  });

  it.each(rules.map((r) => [r.name, r] as const))('%s has a severity, a summary, a description and its ALERTS.md runbook_url', (name, rule) => {
    expect(['critical', 'warning']).toContain(rule.labels.severity);
    expect(rule.annotations.summary, 'summary').toBeTruthy();
    expect(rule.annotations.description, 'description').toBeTruthy();
    expect(rule.annotations.runbook_url).toBe(`ops/ALERTS.md#${anchorOf(name)}`);
  });

  it('every alert has a firing and a non-firing promtool test case', () => {
    const cases = alertTestCases();
    const missing: string[] = [];
    for (const { name } of rules) {
      if (!cases.some((c) => c.alertname === name && c.fires)) missing.push(`${name}: no case where it fires`);
      if (!cases.some((c) => c.alertname === name && !c.fires)) missing.push(`${name}: no case where it does not fire`);
    }
    expect(missing).toEqual([]);
    const known = new Set(rules.map((r) => r.name));
    expect(cases.filter((c) => !known.has(c.alertname)).map((c) => `${c.group}: ${c.alertname}`)).toEqual([]);
  });
});

describe('ops/ALERTS.md', () => {
  const anchors = headingAnchors(paths.alertsDoc);

  it.each(rules.map((r) => [r.name] as const))('has a section for %s: meaning, first query, next steps with runbook links', (name) => {
    expect(anchors.has(anchorOf(name)), `## ${name}`).toBe(true);
    const section = docSection(name);
    expect(section).toContain('**Means.**');
    expect(section).toContain('**First query.**');
    expect(section).toContain('**Next.**');
    expect(section).toMatch(/```promql\n\S/);
    expect(section).toMatch(/curl -\S*s\S* /);
    expect(section).toMatch(/\]\(RUNBOOK\.md#\d-[a-z0-9-]+\)/);
  });

  it('documents no alert that alerts.yml does not have', () => {
    const documented = [...doc.matchAll(/^## (\S+)\s*$/gm)].map((m) => m[1]!);
    expect(documented.sort()).toEqual(rules.map((r) => r.name).sort());
  });

  it('sends the API key on every /v1 call', () => {
    // curl commands with their continuation lines joined
    const commands = doc.replace(/\\\n\s*/g, ' ').split('\n').filter((l) => /^\s*curl /.test(l) && l.includes('/v1/'));
    expect(commands.length).toBeGreaterThan(10);
    for (const c of commands) expect(c, c).toContain('-H "Authorization: Bearer $STRIPEMETER_KEY"');
  });

  it('links only to anchors that exist, here and in ops/RUNBOOK.md', () => {
    for (const m of doc.matchAll(/\]\(#([^)]+)\)/g)) expect(anchors.has(m[1]!), `#${m[1]}`).toBe(true);
    const runbookLinks = [...doc.matchAll(/\]\(RUNBOOK\.md#([^)]+)\)/g)].map((m) => m[1]!);
    expect(runbookLinks.length).toBeGreaterThan(0);
    // the seed runbook's step headings, as GitHub anchors them
    const steps = [
      '1) Verify service health and scrape status',
      '2) Inspect drift metrics and logs',
      '3) Identify the affected item',
      '4) Re-aggregate a window (safe retry/backoff)',
      '5) Targeted replays',
      '6) Confirm resolution',
    ].map(anchorOf);
    expect(steps).toContain('4-re-aggregate-a-window-safe-retrybackoff');
    for (const link of runbookLinks) expect(steps, link).toContain(link);
    if (existsSync(paths.runbook)) {
      const runbookAnchors = headingAnchors(paths.runbook);
      for (const link of new Set(runbookLinks)) expect(runbookAnchors.has(link), `RUNBOOK.md#${link}`).toBe(true);
    }
  });
});
