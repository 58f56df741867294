/**
 * The operators' alert rules (deploy/alerts/tributary.yml): promtool accepts them and their unit
 * tests (deploy/alerts/tests/tributary-test.yml) pass, every alert carries what an on-call needs
 * (for, severity, summary, description, runbook), and every alert is tested both firing and quiet.
 * promtool comes with Debian's prometheus package: locally a missing promtool skips the promtool
 * runs with a warning; under CI=true it fails the run (same policy as e2eAvailable).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { promtool, promtoolAvailable } from '../support/promtool.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RULES = 'deploy/alerts/tributary.yml';
const TESTS = 'deploy/alerts/tests/tributary-test.yml';
const RUNBOOK = 'deploy/alerts/RUNBOOK.md';
const RUNBOOK_BASE = 'https://github.com/tributary/tributary/blob/main/deploy/alerts/RUNBOOK.md#runbook-';

interface Rule {
  alert?: string;
  record?: string;
  expr?: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RulesFile {
  groups: { name: string; rules: Rule[] }[];
}
interface ExpAlert {
  exp_labels?: Record<string, string>;
  exp_annotations?: Record<string, string>;
}
interface AlertRuleTest {
  eval_time: string;
  alertname: string;
  exp_alerts?: ExpAlert[] | null;
}
interface TestFile {
  rule_files: string[];
  evaluation_interval: string;
  tests: { interval: string; alert_rule_test?: AlertRuleTest[] }[];
}

const read = (path: string): string => readFileSync(`${ROOT}${path}`, 'utf8');
const rulesFile = parse(read(RULES)) as RulesFile;
const testFile = parse(read(TESTS)) as TestFile;
const rules = rulesFile.groups.flatMap((g) => g.rules);
const alerts = rules.filter((r): r is Rule & { alert: string } => typeof r.alert === 'string');
const alertNames = [...new Set(alerts.map((a) => a.alert))];
const ruleTests = testFile.tests.flatMap((t) => t.alert_rule_test ?? []);

const available = promtoolAvailable('the alert rule tests');

describe.runIf(available)('promtool on deploy/alerts', () => {
  it(`promtool check rules ${RULES}: valid, with every rule counted`, async () => {
    const { code, stdout, stderr } = await promtool(['check', 'rules', RULES], ROOT);
    const output = `${stdout}\n${stderr}`;
    expect(code, output).toBe(0);
    expect(output).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it(`promtool test rules ${TESTS}: every case passes`, async () => {
    const { code, stdout, stderr } = await promtool(['test', 'rules', TESTS], ROOT);
    const output = `${stdout}\n${stderr}`;
    expect(code, output).toBe(0);
    expect(output).toContain('SUCCESS');
    expect(output).not.toContain('FAILED');
  });
});

describe('the alert rules', () => {
  it('are one group named tributary, all of them alerts', () => {
    expect(rulesFile.groups.map((g) => g.name)).toEqual(['tributary']);
    expect(alerts.length).toBe(rules.length);
    expect(alertNames.length).toBeGreaterThanOrEqual(10);
  });

  it.each(alerts.map((rule, i) => ({ i, rule, name: rule.alert, severity: rule.labels?.severity })))(
    '#$i $name ($severity): for, severity, summary, description and runbook_url',
    ({ rule, name }) => {
      expect(rule.expr?.trim(), 'expr').toBeTruthy();
      expect(rule.for, 'for').toMatch(/^(\d+[smh])+$/);
      expect(['critical', 'warning']).toContain(rule.labels?.severity);
      const annotations = rule.annotations ?? {};
      expect(annotations.summary, 'summary').toMatch(/\$labels\.\w+/);
      expect(annotations.description?.trim(), 'description').toBeTruthy();
      expect(annotations.runbook_url).toBe(`${RUNBOOK_BASE}${name.toLowerCase()}`);
    },
  );

  it.each(alertNames)('%s has a runbook entry with the anchor its runbook_url names', (name) => {
    const runbook = read(RUNBOOK);
    expect(runbook).toMatch(new RegExp(`^### ${name}$`, 'm'));
    expect(runbook).toContain(`id="runbook-${name.toLowerCase()}"`);
  });
});

describe(`the unit tests of ${TESTS}`, () => {
  it('load ../tributary.yml and evaluate every minute', () => {
    expect(testFile.rule_files).toEqual(['../tributary.yml']);
    expect(testFile.evaluation_interval).toBe('1m');
  });

  it('name only alerts that exist (a typo would pass as "never fires")', () => {
    for (const t of ruleTests) expect(alertNames, `alert_rule_test at ${t.eval_time}`).toContain(t.alertname);
  });

  it.each(alertNames)('%s: tested firing (exact labels and annotations) and quiet', (name) => {
    const mine = ruleTests.filter((t) => t.alertname === name);
    const firing = mine.filter((t) => (t.exp_alerts ?? []).length > 0);
    const quiet = mine.filter((t) => (t.exp_alerts ?? []).length === 0);
    expect(firing.length, 'cases where it fires').toBeGreaterThan(0);
    expect(quiet.length, 'cases where it stays quiet').toBeGreaterThan(0);
    for (const exp of firing.flatMap((t) => t.exp_alerts ?? [])) {
      expect(['critical', 'warning']).toContain(exp.exp_labels?.severity);
      expect(Object.keys(exp.exp_annotations ?? {}).sort()).toEqual(['description', 'runbook_url', 'summary']);
    }
  });
});
