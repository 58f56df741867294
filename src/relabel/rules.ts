/**
 * Prometheus `relabel_config` rules: parsed and validated exactly as Prometheus 2.42 does at config
 * load (defaults, YAML null handling, the checks in their order, the same messages), then compiled
 * once (regex, templates) so applying a rule does no parsing.
 */
import RE2 from 're2';
import { type RegexSyntaxError, RelabelRegex } from './regex.js';
import { Template } from './template.js';

export const RELABEL_ACTIONS = [
  'replace',
  'keep',
  'drop',
  'keepequal',
  'dropequal',
  'hashmod',
  'labelmap',
  'labeldrop',
  'labelkeep',
  'lowercase',
  'uppercase',
] as const;
export type RelabelAction = (typeof RELABEL_ACTIONS)[number];

const DEFAULT_SEPARATOR = ';';
const DEFAULT_REGEX = '(.*)';
const DEFAULT_REPLACEMENT = '$1';

/** Prometheus 2.x label names (model.LabelName.IsValid with the legacy scheme). */
export const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Prometheus' pattern for target labels and labelmap replacements: a label name in which `$n` or
 * `${name}` may appear. Nested quantifiers: matched with RE2 so a long hostile value cannot make
 * config loading backtrack for ever.
 */
const TEMPLATE_NAME = new RE2('^(?:(?:[a-zA-Z_]|\\$(?:\\{\\w+\\}|\\w+))+\\w*)+$');

/** The YAML fields of one rule as written; kept for `--explain` and for comparing configs. */
export interface RawRelabelRule {
  source_labels?: string[] | null;
  separator?: string | null;
  regex?: string | number | boolean | null;
  modulus?: number | string | null;
  target_label?: string | null;
  replacement?: string | number | boolean | null;
  action?: string | null;
}

const RULE_KEYS = new Set(['source_labels', 'separator', 'regex', 'modulus', 'target_label', 'replacement', 'action']);

export class RelabelRule {
  readonly action: RelabelAction;
  readonly sourceLabels: readonly string[];
  readonly separator: string;
  readonly regex: RelabelRegex;
  readonly modulus: bigint;
  /** As written: `replace` expands it; the other actions use it literally (as 2.42 does). */
  readonly targetLabel: string;
  readonly target: Template;
  readonly replacement: Template;
  /** The rule as it appeared in the config (what `--explain` prints and reload compares). */
  readonly raw: RawRelabelRule;

  constructor(fields: Omit<RelabelRule, 'toJSON'>) {
    this.action = fields.action;
    this.sourceLabels = fields.sourceLabels;
    this.separator = fields.separator;
    this.regex = fields.regex;
    this.modulus = fields.modulus;
    this.targetLabel = fields.targetLabel;
    this.target = fields.target;
    this.replacement = fields.replacement;
    this.raw = fields.raw;
  }

  /** Configs are compared as JSON on reload: compare what was written. */
  toJSON(): RawRelabelRule {
    return this.raw;
  }
}

/** One problem with a rule: the path of the field it is about ([] for the rule as a whole) and the message. */
export interface RuleProblem {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

export type ParsedRule = { ok: true; rule: RelabelRule } | { ok: false; problems: RuleProblem[] };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** YAML scalars Go would read into a string field (`regex: 123` is the regex "123"). */
function scalarText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

/**
 * Parse and validate one rule. Type and syntax problems are all reported; the semantic checks then
 * run in Prometheus' order and stop at the first, as Prometheus does.
 */
export function parseRelabelRule(input: unknown): ParsedRule {
  if (input === null || input === undefined) return { ok: false, problems: [{ path: [], message: 'empty or null relabeling rule' }] };
  if (!isRecord(input)) return { ok: false, problems: [{ path: [], message: 'must be a mapping of relabel_config fields' }] };
  const problems: RuleProblem[] = [];
  const unknown = Object.keys(input).filter((k) => !RULE_KEYS.has(k));
  if (unknown.length > 0) {
    problems.push({ path: [], message: `unknown key(s) ${unknown.map((k) => `"${k}"`).join(', ')}; a relabel_config has ${[...RULE_KEYS].join(', ')}` });
  }

  // YAML null sets a field to Go's zero value; a field left out keeps Prometheus' default.
  const stringField = (key: string, fallback: string): string => {
    if (!(key in input)) return fallback;
    const value = input[key];
    if (value === null) return '';
    const text = scalarText(value);
    if (text === undefined) {
      problems.push({ path: [key], message: 'must be a string' });
      return fallback;
    }
    return text;
  };

  let sourceLabels: string[] = [];
  const sourceGiven = input.source_labels !== undefined && input.source_labels !== null;
  if (sourceGiven) {
    const list = input.source_labels;
    if (!Array.isArray(list) || !list.every((l): l is string => typeof l === 'string')) {
      problems.push({ path: ['source_labels'], message: 'must be a list of label names' });
    } else {
      sourceLabels = list;
      list.forEach((name, i) => {
        if (!LABEL_NAME_RE.test(name)) problems.push({ path: ['source_labels', i], message: `"${name}" is not a valid label name` });
      });
    }
  }
  const separator = stringField('separator', DEFAULT_SEPARATOR);
  const regexGiven = 'regex' in input;
  const regexText = stringField('regex', DEFAULT_REGEX);
  const targetLabel = stringField('target_label', '');
  const replacementText = stringField('replacement', DEFAULT_REPLACEMENT);

  let modulus = 0n;
  if (input.modulus !== undefined && input.modulus !== null) {
    const m = input.modulus;
    const value = typeof m === 'bigint' ? m : typeof m === 'number' && Number.isSafeInteger(m) ? BigInt(m) : undefined;
    if (value === undefined || value < 0n || value >= 1n << 64n) {
      problems.push({ path: ['modulus'], message: `must be an unsigned 64-bit integer (got ${String(m)})` });
    } else modulus = value;
  }

  let regex: RelabelRegex | undefined;
  try {
    regex = RelabelRegex.compile(regexText);
  } catch (err) {
    problems.push({ path: ['regex'], message: (err as RegexSyntaxError).message });
  }

  let action: RelabelAction = 'replace';
  if ('action' in input) {
    const a = input.action;
    if (a === null) problems.push({ path: ['action'], message: 'relabel action cannot be empty' });
    else if (typeof a !== 'string' || !(RELABEL_ACTIONS as readonly string[]).includes(a.toLowerCase())) {
      problems.push({ path: ['action'], message: `unknown relabel action ${JSON.stringify(a)}; one of ${RELABEL_ACTIONS.join(', ')}` });
    } else action = a.toLowerCase() as RelabelAction;
  }
  if (problems.length > 0 || regex === undefined) return { ok: false, problems };

  const semantic = checkRuleFields(action, {
    sourceGiven,
    separator,
    regexGiven,
    modulus,
    targetLabel,
    replacement: replacementText,
  });
  if (semantic !== undefined) return { ok: false, problems: [semantic] };

  const raw: RawRelabelRule = {};
  for (const key of RULE_KEYS) {
    if (!(key in input)) continue;
    const v = input[key];
    // JSON has no 64-bit integers: a modulus beyond 2^53 is kept as its decimal text.
    (raw as Record<string, unknown>)[key] = typeof v === 'bigint' ? (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString()) : v;
  }
  return {
    ok: true,
    rule: new RelabelRule({
      action,
      sourceLabels,
      separator,
      regex,
      modulus,
      targetLabel,
      target: Template.parse(targetLabel),
      replacement: Template.parse(replacementText),
      raw,
    }),
  };
}

interface RuleFields {
  sourceGiven: boolean;
  separator: string;
  regexGiven: boolean;
  modulus: bigint;
  targetLabel: string;
  replacement: string;
}

/** Prometheus 2.42's per-action checks (relabel.Config.UnmarshalYAML), in its order. */
function checkRuleFields(action: RelabelAction, f: RuleFields): RuleProblem | undefined {
  if (action === 'hashmod' && f.modulus === 0n) {
    return { path: ['modulus'], message: 'relabel configuration for hashmod requires non-zero modulus' };
  }
  const needsTarget: readonly RelabelAction[] = ['replace', 'hashmod', 'lowercase', 'uppercase', 'keepequal', 'dropequal'];
  if (needsTarget.includes(action) && f.targetLabel === '') {
    return { path: ['target_label'], message: `relabel configuration for ${action} action requires 'target_label' value` };
  }
  const templated: readonly RelabelAction[] = ['replace', 'lowercase', 'uppercase', 'keepequal', 'dropequal'];
  if (templated.includes(action) && !TEMPLATE_NAME.test(f.targetLabel)) {
    return { path: ['target_label'], message: `"${f.targetLabel}" is invalid 'target_label' for ${action} action` };
  }
  const noReplacement: readonly RelabelAction[] = ['lowercase', 'uppercase', 'keepequal', 'dropequal'];
  if (noReplacement.includes(action) && f.replacement !== DEFAULT_REPLACEMENT) {
    return { path: ['replacement'], message: `'replacement' can not be set for ${action} action` };
  }
  if (action === 'labelmap' && !TEMPLATE_NAME.test(f.replacement)) {
    return { path: ['replacement'], message: `"${f.replacement}" is invalid 'replacement' for labelmap action` };
  }
  if (action === 'hashmod' && !LABEL_NAME_RE.test(f.targetLabel)) {
    return { path: ['target_label'], message: `"${f.targetLabel}" is invalid 'target_label' for hashmod action` };
  }
  if (
    (action === 'keepequal' || action === 'dropequal') &&
    (f.regexGiven || f.modulus !== 0n || f.separator !== DEFAULT_SEPARATOR || f.replacement !== DEFAULT_REPLACEMENT)
  ) {
    return { path: [], message: `${action} action requires only 'source_labels' and \`target_label\`, and no other fields` };
  }
  if (
    (action === 'labeldrop' || action === 'labelkeep') &&
    (f.sourceGiven || f.targetLabel !== '' || f.modulus !== 0n || f.separator !== DEFAULT_SEPARATOR || f.replacement !== DEFAULT_REPLACEMENT)
  ) {
    return { path: [], message: `${action} action requires only 'regex', and no other fields` };
  }
  return undefined;
}

/**
 * Why a rule would touch the cluster label, which tributary enforces per token, or undefined.
 * Decided from the config alone where it can be (a literal target, labeldrop/labelkeep); targets
 * known only at run time (templates, labelmap) are guarded when the rules run instead.
 */
export function clusterLabelConflict(rule: RelabelRule, clusterLabel: string): RuleProblem | undefined {
  const why = `would change the ${clusterLabel} label, which tributary sets from the token; relabel rules may not remove or change it`;
  switch (rule.action) {
    case 'replace':
    case 'hashmod':
    case 'lowercase':
    case 'uppercase':
      return rule.targetLabel === clusterLabel ? { path: ['target_label'], message: `target_label "${clusterLabel}" ${why}` } : undefined;
    case 'labelmap':
      return rule.replacement.literal === clusterLabel ? { path: ['replacement'], message: `replacement "${clusterLabel}" ${why}` } : undefined;
    case 'labeldrop':
      return rule.regex.matches(clusterLabel) ? { path: ['regex'], message: `regex matches "${clusterLabel}" and ${why}` } : undefined;
    case 'labelkeep':
      return rule.regex.matches(clusterLabel) ? undefined : { path: ['regex'], message: `regex does not match "${clusterLabel}" and ${why}` };
    default:
      return undefined;
  }
}
