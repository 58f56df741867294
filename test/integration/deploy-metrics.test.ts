/**
 * The deploy files against a running tributary: the Grafana dashboard (deploy/grafana/tributary.json)
 * and the alert rules (deploy/alerts/*.yml, when that directory exists; not its kustomization.yaml) may only query metrics
 * tributary exports. A renamed metric otherwise leaves an empty panel or an alert that can never
 * fire, and nothing else notices.
 *
 * 1. The dashboard's structure: unique panel ids, titles, the ${datasource} variable everywhere,
 *    a non-empty expr (with refId and legendFormat) in every target, no overlapping panels.
 * 2. Every PromQL expr of both (Grafana variables replaced, label_values(...) reduced to its
 *    selector) is valid for promtool 2.42: one recording rule each, `promtool check rules`.
 * 3. Every tributary_* name the exprs use is in the /metrics of a tributary started in-process
 *    (one `it` per name, so a renamed metric names itself in the failure).
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { eventually } from '../support/forward-helpers.js';
import { type Env, body, push, series, startEnv } from '../support/write-env.js';
import { promtool, promtoolAvailable } from '../support/promtool.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const DASHBOARD_FILE = 'deploy/grafana/tributary.json';
const ALERTS_DIR = 'deploy/alerts';
const DATASOURCE_UID = '${datasource}';
const PANEL_TYPES = new Set(['row', 'timeseries', 'stat', 'table']);

// ---- the dashboard ----------------------------------------------------------------------------

interface GridPos {
  x: number;
  y: number;
  w: number;
  h: number;
}

interface Target {
  refId?: string;
  expr?: string;
  legendFormat?: string;
  datasource?: { type?: string; uid?: string };
}

interface Panel {
  id?: number;
  type?: string;
  title?: string;
  collapsed?: boolean;
  datasource?: { type?: string; uid?: string } | null;
  gridPos?: GridPos;
  targets?: Target[];
  panels?: Panel[];
}

interface Variable {
  name?: string;
  type?: string;
  query?: string | { query?: string };
  datasource?: { type?: string; uid?: string } | null;
  multi?: boolean;
  includeAll?: boolean;
}

interface Dashboard {
  schemaVersion?: number;
  panels?: Panel[];
  templating?: { list?: Variable[] };
}

const dashboard = JSON.parse(readFileSync(join(REPO, DASHBOARD_FILE), 'utf8')) as Dashboard;
const topLevel = dashboard.panels ?? [];
/** Every panel: the top level and the panels nested in (collapsed) rows. */
const allPanels = topLevel.flatMap((p) => [p, ...(p.panels ?? [])]);
const variables = dashboard.templating?.list ?? [];

const variableQuery = (v: Variable): string | undefined => (typeof v.query === 'string' ? v.query : v.query?.query);
const panelName = (p: Panel): string => `panel ${p.id} "${p.title}"`;

/** An expr to check and where it comes from (for failure messages). */
interface Expr {
  source: string;
  expr: string;
}

/** Grafana's variables as promtool should see them (interval variables and the regex-matched selections). */
const GRAFANA_VARIABLES: Record<string, string> = { __rate_interval: '5m', __interval: '1m', tenant: '.*', cluster: '.*' };

/** `$name` and `${name}` (and `${name:format}`) replaced; an unknown variable is left for promtool to refuse. */
function replaceVariables(expr: string): string {
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => {
    const value = GRAFANA_VARIABLES[braced ?? bare ?? ''];
    return value ?? whole;
  });
}

/**
 * The PromQL inside a template query: label_values(selector, label) → selector, query_result(expr)
 * → expr; label_values(label) and metrics(regex) query no series: undefined.
 */
function templateQueryPromQL(query: string): string | undefined {
  const q = query.trim();
  const labelValues = /^label_values\(\s*([\s\S]+)\s*,\s*[A-Za-z_][A-Za-z0-9_]*\s*\)$/.exec(q);
  if (labelValues) return labelValues[1]?.trim();
  if (/^label_values\(\s*[A-Za-z_][A-Za-z0-9_]*\s*\)$/.test(q) || /^metrics\(/.test(q) || /^label_names\(/.test(q)) return undefined;
  const queryResult = /^query_result\(([\s\S]+)\)$/.exec(q);
  if (queryResult) return queryResult[1]?.trim();
  return q;
}

function dashboardExprs(): Expr[] {
  const out: Expr[] = [];
  for (const p of allPanels) {
    for (const t of p.targets ?? []) {
      if (typeof t.expr === 'string') out.push({ source: `${DASHBOARD_FILE} ${panelName(p)} target ${t.refId}`, expr: replaceVariables(t.expr) });
    }
  }
  for (const v of variables) {
    const query = v.type === 'query' ? variableQuery(v) : undefined;
    const promql = query === undefined ? undefined : templateQueryPromQL(query);
    if (promql !== undefined) out.push({ source: `${DASHBOARD_FILE} variable $${v.name}`, expr: replaceVariables(promql) });
  }
  return out;
}

// ---- the alert rules --------------------------------------------------------------------------

interface RuleFile {
  groups?: Array<{ name?: string; rules?: Array<{ alert?: string; record?: string; expr?: unknown }> }>;
}

const alertFiles = existsSync(join(REPO, ALERTS_DIR))
  ? readdirSync(join(REPO, ALERTS_DIR))
      // kustomization.yaml makes the rules a ConfigMap for the Kubernetes deploy kit: not a rule file.
      .filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml')
      .sort()
      .map((f) => `${ALERTS_DIR}/${f}`)
  : [];
if (!existsSync(join(REPO, ALERTS_DIR))) {
  console.warn(`deploy-metrics: ${ALERTS_DIR}/ does not exist: checking the metrics of the Grafana dashboard only`);
} else if (alertFiles.length === 0) {
  console.warn(`deploy-metrics: no *.yml in ${ALERTS_DIR}/: checking the metrics of the Grafana dashboard only`);
}

/** What could not be read from the rule files (asserted empty by a test, not thrown at collection). */
const ruleFileProblems: string[] = [];
/** Names the rule files define themselves (recording rules): not expected in /metrics. */
const recordedNames = new Set<string>();

function alertExprs(): Expr[] {
  const out: Expr[] = [];
  for (const file of alertFiles) {
    let doc: RuleFile;
    try {
      doc = (parse(readFileSync(join(REPO, file), 'utf8')) ?? {}) as RuleFile;
    } catch (err) {
      ruleFileProblems.push(`${file}: ${(err as Error).message}`);
      continue;
    }
    if (!Array.isArray(doc.groups)) {
      ruleFileProblems.push(`${file}: no \`groups:\` list`);
      continue;
    }
    for (const group of doc.groups) {
      for (const [i, rule] of (group.rules ?? []).entries()) {
        if (rule.record !== undefined) recordedNames.add(rule.record);
        const name = rule.alert ?? rule.record ?? '(unnamed)';
        if (rule.expr === undefined || rule.expr === null || String(rule.expr).trim() === '') {
          ruleFileProblems.push(`${file} group ${group.name} rule ${i + 1} ${name}: no expr`);
          continue;
        }
        out.push({ source: `${file} group ${group.name} rule ${i + 1} ${name}`, expr: String(rule.expr) });
      }
    }
  }
  return out;
}

const EXPRS: Expr[] = [...dashboardExprs(), ...alertExprs()];

// ---- metric names -----------------------------------------------------------------------------

/**
 * tributary_* metric names in a PromQL expr: string literals and comments are left out (a label
 * value is no metric), except `__name__="..."` matchers; so are parts of recording rule names
 * (`job:tributary_x:rate5m`).
 */
function metricNames(expr: string): string[] {
  const names = [...expr.matchAll(/__name__\s*=\s*["'`](tributary_[a-z0-9_]+)["'`]/g)].map((m) => m[1] as string);
  const code = expr.replace(/("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)|#[^\n]*/g, (_whole, str: string | undefined) => (str === undefined ? '' : '""'));
  for (const m of code.matchAll(/\btributary_[a-z0-9_]+\b/g)) {
    const before = code[m.index - 1];
    const after = code[m.index + m[0].length];
    if (before !== ':' && after !== ':') names.push(m[0]);
  }
  return names;
}

/** Each used name and the exprs that use it. */
const USED = new Map<string, string[]>();
for (const e of EXPRS) {
  for (const name of metricNames(e.expr)) {
    if (recordedNames.has(name)) continue;
    USED.set(name, [...(USED.get(name) ?? []), e.source]);
  }
}
const USED_NAMES = [...USED.keys()].sort();

/** `# TYPE <name> <type>` of an exposition: name → type. */
function exportedTypes(text: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1] as string, m[2] as string);
  return types;
}

const SERIES_SUFFIXES: Record<string, readonly string[]> = { histogram: ['_bucket', '_sum', '_count'], summary: ['_sum', '_count'] };

/** The family an expr's name reads: itself, or for `<h>_bucket`/`_sum`/`_count` the histogram (or summary) `<h>`. */
function familyOf(name: string, types: ReadonlyMap<string, string>): string | undefined {
  if (types.has(name)) return name;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const base = name.slice(0, -suffix.length);
    if (SERIES_SUFFIXES[types.get(base) ?? '']?.includes(suffix)) return base;
  }
  return undefined;
}

// ---- promtool ---------------------------------------------------------------------------------

const promtoolPresent = promtoolAvailable('the PromQL syntax check of the deploy files');

// ---- the tests --------------------------------------------------------------------------------

describe(`the Grafana dashboard ${DASHBOARD_FILE}`, () => {
  it('has schemaVersion 39, a Prometheus ${datasource} variable and multi-value tenant and cluster variables', () => {
    expect(dashboard.schemaVersion).toBe(39);
    const byName = new Map(variables.map((v) => [v.name, v]));
    expect(byName.get('datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(byName.get('tenant')).toMatchObject({ type: 'query', multi: true, includeAll: true, datasource: { uid: DATASOURCE_UID } });
    expect(byName.get('cluster')).toMatchObject({ type: 'query', multi: true, includeAll: true, datasource: { uid: DATASOURCE_UID } });
    expect(variableQuery(byName.get('tenant') ?? {})).toBe('label_values(tributary_cluster_last_push_timestamp_seconds, tenant)');
    expect(variableQuery(byName.get('cluster') ?? {})).toBe('label_values(tributary_cluster_last_push_timestamp_seconds{tenant=~"$tenant"}, cluster)');
  });

  it('has unique panel ids', () => {
    const ids = allPanels.map((p) => p.id);
    expect(ids.every((id) => Number.isInteger(id)), `panels without an integer id: ${allPanels.filter((p) => !Number.isInteger(p.id)).map((p) => p.title)}`).toBe(true);
    const duplicates = ids.filter((id, i) => ids.indexOf(id) !== i);
    expect(duplicates).toEqual([]);
  });

  it('gives every panel a title, a known type and the ${datasource} datasource', () => {
    for (const p of allPanels) {
      expect(p.title?.trim(), `panel ${p.id} has no title`).toBeTruthy();
      expect(PANEL_TYPES.has(p.type ?? ''), `${panelName(p)} has type ${p.type}`).toBe(true);
      expect(p.datasource?.uid, `${panelName(p)} datasource`).toBe(DATASOURCE_UID);
    }
  });

  it('has in every panel but rows targets with a refId, a legendFormat and an expr', () => {
    for (const p of allPanels.filter((q) => q.type !== 'row')) {
      const targets = p.targets ?? [];
      expect(targets.length, `${panelName(p)} has no targets`).toBeGreaterThan(0);
      for (const t of targets) {
        expect(t.refId, `${panelName(p)}: a target without refId`).toMatch(/^\S+$/);
        expect(t.expr?.trim(), `${panelName(p)} target ${t.refId} has no expr`).toBeTruthy();
        expect(typeof t.legendFormat, `${panelName(p)} target ${t.refId} has no legendFormat`).toBe('string');
        if (t.datasource !== undefined) expect(t.datasource.uid, `${panelName(p)} target ${t.refId} datasource`).toBe(DATASOURCE_UID);
      }
      const refIds = targets.map((t) => t.refId);
      expect(new Set(refIds).size, `${panelName(p)} repeats a refId: ${refIds}`).toBe(refIds.length);
    }
  });

  it('lays the panels out in 24 columns without overlaps', () => {
    // The top level is one layout; a collapsed row's panels are laid out for when it is expanded.
    const layouts = [topLevel, ...topLevel.filter((p) => p.type === 'row' && p.collapsed).map((row) => row.panels ?? [])];
    const overlaps: string[] = [];
    for (const layout of layouts) {
      for (const p of layout) {
        const g = p.gridPos;
        expect(g, `${panelName(p)} has no gridPos`).toBeDefined();
        if (g === undefined) continue;
        expect([g.x, g.y, g.w, g.h].every(Number.isInteger) && g.x >= 0 && g.y >= 0 && g.w > 0 && g.h > 0 && g.x + g.w <= 24, `${panelName(p)} gridPos ${JSON.stringify(g)}`).toBe(true);
      }
      for (const [i, a] of layout.entries()) {
        for (const b of layout.slice(i + 1)) {
          const p = a.gridPos;
          const q = b.gridPos;
          if (p === undefined || q === undefined) continue;
          if (p.x < q.x + q.w && q.x < p.x + p.w && p.y < q.y + q.h && q.y < p.y + p.h) overlaps.push(`${panelName(a)} and ${panelName(b)}`);
        }
      }
    }
    expect(overlaps).toEqual([]);
  });
});

describe('the PromQL of the dashboard and the alert rules', () => {
  it(`reads every rule of ${ALERTS_DIR}/*.yml (${alertFiles.length} files)`, () => {
    expect(ruleFileProblems).toEqual([]);
  });

  it.runIf(promtoolPresent)(`is valid for promtool check rules (${EXPRS.length} exprs)`, async () => {
    expect(EXPRS.length).toBeGreaterThan(0);
    const dir = mkdtempSync(join(tmpdir(), 'tributary-deploy-exprs-'));
    try {
      const file = join(dir, 'exprs.yml');
      const rules = EXPRS.map((e, i) => ({ record: `check:expr_${i}`, expr: e.expr }));
      writeFileSync(file, stringify({ groups: [{ name: 'deploy-exprs', rules }] }));
      const run = await promtool(['check', 'rules', file]);
      const legend = EXPRS.map((e, i) => `  check:expr_${i}: ${e.source}\n    ${e.expr.replace(/\s+/g, ' ')}`).join('\n');
      expect(run.code, `promtool check rules failed:\n${run.stdout}${run.stderr}\nrules:\n${legend}`).toBe(0);
      expect(run.stdout).toContain(`SUCCESS: ${EXPRS.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the metrics the dashboard and the alert rules use', () => {
  let env: Env;
  let types: Map<string, string>;

  beforeAll(async () => {
    env = await startEnv();
    const now = Date.now();
    // Accepted (and forwarded), a foreign cluster (partial rejection) and no token (a refused
    // request), so the labelled families have children.
    expect((await push(env.url, body([series({ __name__: 'deploy_check', cluster: 'edge-a' }, [[1, now]])]))).status).toBe(204);
    expect((await push(env.url, body([series({ __name__: 'deploy_check', cluster: 'not-edge-a' }, [[1, now]])]))).status).toBe(400);
    expect((await push(env.url, body([series({ __name__: 'deploy_check', cluster: 'edge-a' }, [[1, now]])]), null)).status).toBe(401);
    await eventually(() => env.sink.accepted().length > 0, 'the accepted push at the backend');
    types = exportedTypes(await env.metricsText());
  });

  afterAll(async () => {
    await env?.close();
  });

  it('are found in the exprs, among them the cluster heartbeat and the queue depth', () => {
    expect(USED_NAMES.length).toBeGreaterThan(0);
    expect(USED_NAMES).toContain('tributary_cluster_last_push_timestamp_seconds');
    expect(USED_NAMES).toContain('tributary_queue_bytes');
  });

  it('are read from a /metrics that has the families of both layers', () => {
    expect(types.get('tributary_ingest_requests_total')).toBe('counter');
    expect(types.get('tributary_forward_request_duration_seconds')).toBe('histogram');
  });

  it.each(USED_NAMES)('tributary exports %s', (name) => {
    const family = familyOf(name, types);
    expect(family, `${name} is not in tributary's /metrics (no \`# TYPE ${name}\`, nor a histogram it is a series of); used by:\n  ${(USED.get(name) ?? []).join('\n  ')}`).toBeDefined();
  });
});
