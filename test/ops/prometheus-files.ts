import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { packageRoot } from '../../src/storage/paths.js';

/** Readers for the monitoring files: ops/prometheus (rules and their unit tests), ops/*.md, grafana/. */

export const paths = {
  alerts: path.join(packageRoot, 'ops/prometheus/alerts.yml'),
  alertTests: path.join(packageRoot, 'ops/prometheus/alerts.test.yml'),
  alertsDoc: path.join(packageRoot, 'ops/ALERTS.md'),
  runbook: path.join(packageRoot, 'ops/RUNBOOK.md'),
  datasources: path.join(packageRoot, 'grafana/provisioning/datasources/datasources.yml'),
  dashboardProviders: path.join(packageRoot, 'grafana/provisioning/dashboards/dashboards.yml'),
  dashboards: path.join(packageRoot, 'grafana/dashboards'),
};

const read = (file: string) => readFileSync(file, 'utf8');

/** The queries of the seed runbook's step 2 ("Inspect drift metrics and logs"), verbatim: each must be a panel. */
export const runbookStep2Queries = [
  'max_over_time(reconciliation_diff_pct[15m])',
  'max_over_time(reconciliation_diff_abs[15m])',
  'increase(recon_runs_total[1h])',
  'histogram_quantile(0.95, sum(rate(recon_duration_seconds_bucket[5m])) by (le))',
  'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{route="/v1/events/ingest"}[5m])))',
  'sum by (route) (rate(http_requests_total{status_code=~"5.."}[5m]))',
];

/**
 * The Prometheus queries of ops/RUNBOOK.md step 2 (every non-comment line of its untagged or `promql` code blocks),
 * or [] while the file does not exist.
 */
export function runbookFileStep2Queries(): string[] {
  if (!existsSync(paths.runbook)) return [];
  const section = sectionOf(read(paths.runbook), /^#{2,4}\s*2\)/);
  const queries: string[] = [];
  for (const m of section.matchAll(/^```(\w*)\n([\s\S]*?)^```/gm)) {
    if (m[1] !== '' && m[1] !== 'promql') continue;
    for (const line of m[2]!.split('\n')) if (line.trim() && !line.trim().startsWith('#')) queries.push(line.trim());
  }
  return queries;
}

/** The text from the heading matching `heading` to the next heading of the same or a higher level. */
function sectionOf(markdown: string, heading: RegExp): string {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => heading.test(l));
  if (start < 0) return '';
  const level = /^#+/.exec(lines[start]!)![0].length;
  let end = lines.length;
  let fenced = false;
  for (let i = start + 1; i < lines.length; i++) {
    if (lines[i]!.startsWith('```')) fenced = !fenced;
    const h = !fenced && /^(#+)\s/.exec(lines[i]!);
    if (h && h[1]!.length <= level) {
      end = i;
      break;
    }
  }
  return lines.slice(start, end).join('\n');
}

/** GitHub's heading anchor: lower case, punctuation other than `-` and `_` dropped, spaces to `-`. */
export function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** Anchors of every heading of a markdown file (outside code blocks). */
export function headingAnchors(file: string): Set<string> {
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of read(file).split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const m = !fenced && /^#{1,6}\s+(.*)$/.exec(line);
    if (m) anchors.add(anchorOf(m[1]!));
  }
  return anchors;
}

export type AlertRule = {
  name: string;
  group: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
};

/** The alerting rules of alerts.yml, in file order. */
export function alertRules(): AlertRule[] {
  const doc = parse(read(paths.alerts)) as { groups: Array<{ name: string; rules: Array<Record<string, any>> }> };
  return doc.groups.flatMap((g) =>
    g.rules.map((r) => {
      if (!r.alert) throw new Error(`alerts.yml group ${g.name} holds a recording rule: teach alertRules() about them`);
      return { name: r.alert, group: g.name, expr: String(r.expr).trim(), for: r.for, labels: r.labels ?? {}, annotations: r.annotations ?? {} };
    }),
  );
}

export type AlertTestCase = { group: string; alertname: string; evalTime: string; fires: boolean };

/** The alert_rule_test cases of alerts.test.yml: `fires` when exp_alerts lists alerts, not when it is empty. */
export function alertTestCases(): AlertTestCase[] {
  const doc = parse(read(paths.alertTests)) as {
    tests: Array<{ name?: string; alert_rule_test?: Array<{ eval_time: string; alertname: string; exp_alerts?: unknown[] | null }> }>;
  };
  return doc.tests.flatMap((t, i) =>
    (t.alert_rule_test ?? []).map((c) => ({
      group: t.name ?? `test ${i + 1}`,
      alertname: c.alertname,
      evalTime: c.eval_time,
      fires: (c.exp_alerts ?? []).length > 0,
    })),
  );
}

export type Target = { dashboard: string; panelId: number; panel: string; refId: string; datasource: string; expr?: string; rawSql?: string };
export type Panel = { id: number; type: string; title?: string; datasource?: { type?: string; uid?: string }; targets?: any[]; panels?: Panel[] };
export type Dashboard = { file: string; json: { uid: string; title: string; schemaVersion: number; panels: Panel[]; [k: string]: unknown } };

export function dashboards(): Dashboard[] {
  return readdirSync(paths.dashboards)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ file: f, json: JSON.parse(read(path.join(paths.dashboards, f))) }));
}

/** Every panel, rows' nested panels included. */
export function panelsOf(d: Dashboard): Panel[] {
  return d.json.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** Every query target of every panel, with the datasource uid it runs on (the target's, else the panel's). */
export function targetsOf(d: Dashboard): Target[] {
  return panelsOf(d).flatMap((p) =>
    (p.targets ?? []).map((t) => ({
      dashboard: d.json.title,
      panelId: p.id,
      panel: p.title ?? '',
      refId: t.refId,
      datasource: t.datasource?.uid ?? p.datasource?.uid ?? '',
      ...(typeof t.expr === 'string' ? { expr: t.expr } : {}),
      ...(typeof t.rawSql === 'string' ? { rawSql: t.rawSql } : {}),
    })),
  );
}

/** Every `datasource` reference anywhere in a dashboard (panels, targets, variables, annotations). */
export function datasourceRefs(value: unknown, found: Array<{ type?: string; uid?: string }> = []): Array<{ type?: string; uid?: string }> {
  if (Array.isArray(value)) for (const v of value) datasourceRefs(v, found);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'datasource') found.push(typeof v === 'string' ? { uid: v } : (v as { type?: string; uid?: string }));
      else datasourceRefs(v, found);
    }
  }
  return found;
}

export type ProvisionedDatasource = {
  name: string;
  uid: string;
  type: string;
  url?: string;
  isDefault?: boolean;
  jsonData?: Record<string, unknown>;
  secureJsonData?: Record<string, unknown>;
};

export function provisionedDatasources(): ProvisionedDatasource[] {
  return (parse(read(paths.datasources)) as { datasources: ProvisionedDatasource[] }).datasources;
}

export type DashboardProvider = { name: string; type: string; options: { path: string } };

export function dashboardProviders(): DashboardProvider[] {
  return (parse(read(paths.dashboardProviders)) as { providers: DashboardProvider[] }).providers;
}

/** Grafana's ClickHouse macros, expanded as grafana-clickhouse-datasource does for a time range and interval. */
export function expandClickHouseMacros(sql: string, range: { from: Date; to: Date; intervalSeconds: number }): string {
  const s = (d: Date) => Math.floor(d.getTime() / 1000);
  const ms = (d: Date) => d.getTime();
  const date = (d: Date) => `toDate('${d.toISOString().slice(0, 10)}')`;
  return sql
    .replace(/\$__timeFilter_ms\(([^)]+)\)/g, (_, c) => `${c} >= fromUnixTimestamp64Milli(${ms(range.from)}) AND ${c} <= fromUnixTimestamp64Milli(${ms(range.to)})`)
    .replace(/\$__timeFilter\(([^)]+)\)/g, (_, c) => `${c} >= toDateTime(${s(range.from)}) AND ${c} <= toDateTime(${s(range.to)})`)
    .replace(/\$__dateFilter\(([^)]+)\)/g, (_, c) => `${c} >= ${date(range.from)} AND ${c} <= ${date(range.to)}`)
    .replace(/\$__timeInterval_ms\(([^)]+)\)/g, (_, c) => `toStartOfInterval(toDateTime64(${c}, 3), INTERVAL ${range.intervalSeconds * 1000} millisecond)`)
    .replace(/\$__timeInterval\(([^)]+)\)/g, (_, c) => `toStartOfInterval(toDateTime(${c}), INTERVAL ${range.intervalSeconds} second)`)
    .replace(/\$__fromTime_ms\b/g, `fromUnixTimestamp64Milli(${ms(range.from)})`)
    .replace(/\$__toTime_ms\b/g, `fromUnixTimestamp64Milli(${ms(range.to)})`)
    .replace(/\$__fromTime\b/g, `toDateTime(${s(range.from)})`)
    .replace(/\$__toTime\b/g, `toDateTime(${s(range.to)})`)
    .replace(/\$__interval_s\b/g, String(range.intervalSeconds));
}
