/**
 * Applies relabel rules to one label set, as Prometheus 2.42's `relabel.Process` does: rules run in
 * order, each on the previous one's output; a keep/drop that drops ends the chain. The label set
 * behaves like Prometheus' label builder: setting a label to "" deletes it, names are unique, and
 * labelmap/labeldrop/labelkeep walk the rule's input in name order.
 *
 * This runs only when a series is not in the relabel cache, so it favours clarity over speed.
 */
import { goToLower, goToUpper } from './go-case.js';
import { hashmod } from './hashmod.js';
import { LABEL_NAME_RE, type RelabelRule } from './rules.js';

/** A label set being relabeled: name -> value (never ""). */
export type LabelSet = Map<string, string>;

/** Called after each rule that changed something or dropped the series (for `--explain`). */
export type RuleObserver = (ruleIndex: number, before: ReadonlyMap<string, string>, after: LabelSet | null) => void;

/**
 * Byte order of the UTF-8 encodings, which is how Prometheus sorts label names. Equal to UTF-16
 * order except that code points above U+FFFF (surrogate pairs) sort after U+E000..U+FFFF.
 */
export function compareNames(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      const xs = x <= 0xdfff;
      const ys = y <= 0xdfff;
      if (xs !== ys) return xs ? 1 : -1;
    }
    return x - y;
  }
  return a.length - b.length;
}

/** The label names in Prometheus' order. */
export function sortedNames(labels: ReadonlyMap<string, string>): string[] {
  return [...labels.keys()].sort(compareNames);
}

function setLabel(labels: LabelSet, name: string, value: string): void {
  if (value === '') labels.delete(name);
  else labels.set(name, value);
}

function sourceValue(rule: RelabelRule, labels: LabelSet): string {
  const names = rule.sourceLabels;
  if (names.length === 1) return labels.get(names[0] as string) ?? '';
  let value = '';
  for (let i = 0; i < names.length; i++) {
    if (i > 0) value += rule.separator;
    value += labels.get(names[i] as string) ?? '';
  }
  return value;
}

/** Apply one rule; false when it drops the series. */
function applyRule(rule: RelabelRule, labels: LabelSet): boolean {
  switch (rule.action) {
    case 'drop':
      return !rule.regex.matches(sourceValue(rule, labels));
    case 'keep':
      return rule.regex.matches(sourceValue(rule, labels));
    case 'dropequal':
      return sourceValue(rule, labels) !== (labels.get(rule.targetLabel) ?? '');
    case 'keepequal':
      return sourceValue(rule, labels) === (labels.get(rule.targetLabel) ?? '');
    case 'replace': {
      const groups = rule.regex.match(sourceValue(rule, labels));
      if (groups === null) return true;
      const names = rule.regex.groupNames;
      const target = rule.target.literal ?? rule.target.expand(groups, names);
      // An expanded target that is no label name: the rule does nothing.
      if (!LABEL_NAME_RE.test(target)) return true;
      const value = rule.replacement.literal ?? rule.replacement.expand(groups, names);
      // 2.42 deletes the label named by the target as written, not as expanded.
      if (value === '') labels.delete(rule.targetLabel);
      else labels.set(target, value);
      return true;
    }
    case 'hashmod':
      labels.set(rule.targetLabel, hashmod(sourceValue(rule, labels), rule.modulus));
      return true;
    case 'lowercase':
      setLabel(labels, rule.targetLabel, goToLower(sourceValue(rule, labels)));
      return true;
    case 'uppercase':
      setLabel(labels, rule.targetLabel, goToUpper(sourceValue(rule, labels)));
      return true;
    case 'labelmap': {
      // Walk the rule's input, in name order: when two labels map to one name, the later one wins.
      const input = sortedNames(labels).map((name) => [name, labels.get(name) as string] as const);
      for (const [name, value] of input) {
        const groups = rule.regex.match(name);
        if (groups !== null) setLabel(labels, rule.replacement.expand(groups, rule.regex.groupNames), value);
      }
      return true;
    }
    case 'labeldrop':
      for (const name of [...labels.keys()]) if (rule.regex.matches(name)) labels.delete(name);
      return true;
    case 'labelkeep':
      for (const name of [...labels.keys()]) if (!rule.regex.matches(name)) labels.delete(name);
      return true;
  }
}

/**
 * Apply `rules` to `labels` in place. Returns false when a rule dropped the series (the label set
 * is then left as it was at that point). `observe` sees every rule that changed or dropped it;
 * `afterRule` runs after every rule that kept the series, before the next one (the caller's guard).
 */
export function applyRules(rules: readonly RelabelRule[], labels: LabelSet, observe?: RuleObserver, afterRule?: () => void): boolean {
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i] as RelabelRule;
    const before = observe === undefined ? undefined : new Map(labels);
    const kept = applyRule(rule, labels);
    if (before !== undefined && observe !== undefined && (!kept || !sameLabels(before, labels))) observe(i, before, kept ? labels : null);
    if (!kept) return false;
    afterRule?.();
  }
  return true;
}

export function sameLabels(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [name, value] of a) if (b.get(name) !== value) return false;
  return true;
}
