/**
 * Relabel rule validation at config load, as Prometheus 2.42 validates `relabel_config`
 * (reference/remote-write-and-relabel-facts.md §5.1 and §5.6), and how problems are reported
 * through the config file: stage, index and field.
 */
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { parseRelabelRule, type RelabelRule } from '../../src/relabel/rules.js';

function parse(raw: unknown): RelabelRule {
  const parsed = parseRelabelRule(raw);
  if (!parsed.ok) throw new Error(parsed.problems.map((p) => `${p.path.join('.')}: ${p.message}`).join('; '));
  return parsed.rule;
}

function problems(raw: unknown): string[] {
  const parsed = parseRelabelRule(raw);
  return parsed.ok ? [] : parsed.problems.map((p) => `${p.path.join('.')}: ${p.message}`);
}

describe('defaults', () => {
  it('fills in Prometheus defaults: replace, separator ;, regex (.*), replacement $1', () => {
    const rule = parse({ source_labels: ['a'], target_label: 'b' });
    expect(rule.action).toBe('replace');
    expect(rule.separator).toBe(';');
    expect(rule.regex.source).toBe('(.*)');
    expect(rule.replacement.text).toBe('$1');
    expect(rule.modulus).toBe(0n);
  });

  it.each([
    ['regex: null matches only the empty string', { regex: null }, '', 'x'],
    ['regex: "" matches only the empty string', { regex: '' }, '', 'x'],
  ])('%s', (_name, fields, matching, notMatching) => {
    const rule = parse({ source_labels: ['a'], action: 'keep', ...fields });
    expect(rule.regex.matches(matching)).toBe(true);
    expect(rule.regex.matches(notMatching)).toBe(false);
  });

  it('honours an empty separator and an empty replacement', () => {
    const rule = parse({ source_labels: ['a', 'b'], separator: '', target_label: 'c', replacement: '' });
    expect(rule.separator).toBe('');
    expect(rule.replacement.text).toBe('');
  });

  it('takes the action case-insensitively', () => {
    expect(parse({ source_labels: ['a'], action: 'KEEP' }).action).toBe('keep');
    expect(parse({ source_labels: ['a'], action: 'Replace', target_label: 'b' }).action).toBe('replace');
  });

  it('reads a YAML number as the regex text, as Go does', () => {
    expect(parse({ source_labels: ['a'], regex: 123, action: 'keep' }).regex.matches('123')).toBe(true);
  });

  it('accepts explicit defaults for keepequal (separator ; and replacement $1)', () => {
    expect(problems({ source_labels: ['a'], target_label: 'b', action: 'keepequal', separator: ';', replacement: '$1' })).toEqual([]);
  });
});

describe('rejections, with the messages Prometheus 2.42 gives', () => {
  it.each<[string, unknown, string]>([
    ['null rule', null, ': empty or null relabeling rule'],
    ['not a mapping', ['a'], ': must be a mapping'],
    ['unknown key', { source_labels: ['a'], target: 'x' }, ': unknown key(s) "target"'],
    ['action null', { action: null }, "action: relabel action cannot be empty"],
    ['action empty', { action: '' }, 'action: unknown relabel action ""'],
    ['unknown action', { action: 'rename' }, 'action: unknown relabel action "rename"'],
    ['invalid source label', { source_labels: ['foo-bar'], action: 'keep' }, 'source_labels.0: "foo-bar" is not a valid label name'],
    ['source_labels not a list', { source_labels: 'a', action: 'keep' }, 'source_labels: must be a list of label names'],
    ['bad regex', { source_labels: ['a'], regex: 'a(b', action: 'keep' }, 'regex: '],
    ['negative modulus', { source_labels: ['a'], action: 'hashmod', target_label: 'h', modulus: -1 }, 'modulus: must be an unsigned 64-bit integer'],
    ['fractional modulus', { source_labels: ['a'], action: 'hashmod', target_label: 'h', modulus: 1.5 }, 'modulus: must be an unsigned 64-bit integer'],
    ['hashmod without modulus', { source_labels: ['a'], action: 'hashmod', target_label: 'h' }, 'modulus: relabel configuration for hashmod requires non-zero modulus'],
    ...(['replace', 'hashmod', 'lowercase', 'uppercase', 'keepequal', 'dropequal'] as const).map(
      (action) =>
        [
          `${action} without target_label`,
          { source_labels: ['a'], action, ...(action === 'hashmod' ? { modulus: 2 } : {}) },
          `target_label: relabel configuration for ${action} action requires 'target_label' value`,
        ] as [string, unknown, string],
    ),
    ...['-label', '${', '$', '${}', 'foo${', '-foo${1}bar-', '42lab', '0${3}', 'bar.foo${1}bar'].map(
      (target): [string, unknown, string] => [
        `replace target ${target}`,
        { source_labels: ['a'], target_label: target },
        `target_label: "${target}" is invalid 'target_label' for replace action`,
      ],
    ),
    ['lowercase with replacement', { source_labels: ['a'], action: 'lowercase', target_label: 'b', replacement: 'x' }, "replacement: 'replacement' can not be set for lowercase action"],
    ['labelmap invalid replacement', { action: 'labelmap', regex: '(.*)', replacement: 'l-$1' }, `replacement: "l-$1" is invalid 'replacement' for labelmap action`],
    ['labelmap replacement with a dot', { action: 'labelmap', replacement: 'x.$1' }, `replacement: "x.$1" is invalid 'replacement' for labelmap action`],
    ['hashmod templated target', { source_labels: ['a'], action: 'hashmod', target_label: '${1}', modulus: 2 }, `target_label: "\${1}" is invalid 'target_label' for hashmod action`],
    [
      'keepequal with explicit default regex',
      { source_labels: ['a'], target_label: 'b', action: 'keepequal', regex: '(.*)' },
      ": keepequal action requires only 'source_labels' and `target_label`, and no other fields",
    ],
    [
      'dropequal with a separator',
      { source_labels: ['a'], target_label: 'b', action: 'dropequal', separator: ',' },
      ": dropequal action requires only 'source_labels' and `target_label`, and no other fields",
    ],
    ['labeldrop with source_labels []', { action: 'labeldrop', regex: 'a', source_labels: [] }, ": labeldrop action requires only 'regex', and no other fields"],
    ['labelkeep with target_label', { action: 'labelkeep', regex: 'a', target_label: 'b' }, ": labelkeep action requires only 'regex', and no other fields"],
  ])('%s', (_name, raw, expected) => {
    const found = problems(raw);
    expect(found.length).toBeGreaterThan(0);
    expect(found.join('\n')).toContain(expected);
  });

  it.each(['label', '$1', '${1}', 'a${1}b', '_${1}_', 'foo${bar}foo'])('accepts the replace target %s', (target) => {
    expect(problems({ source_labels: ['a'], target_label: target })).toEqual([]);
  });

  it('accepts a template-looking target for lowercase, used literally as 2.42 does', () => {
    expect(parse({ source_labels: ['a'], action: 'lowercase', target_label: '${1}' }).targetLabel).toBe('${1}');
  });
});

describe('in the config file', () => {
  const base = `
backends:
  - name: central
    url: http://127.0.0.1:9090/api/v1/write
`;

  function configProblems(yaml: string): string[] {
    try {
      parseConfigText(yaml);
      return [];
    } catch (err) {
      if (err instanceof ConfigError) return [...err.problems];
      throw err;
    }
  }

  it('names stage, index and field for each stage', () => {
    const found = configProblems(`
relabel_configs:
  - source_labels: [a]
    action: keep
  - action: hashmod
    source_labels: [a]
    target_label: shard
tenants:
  team-a:
    relabel_configs:
      - source_labels: [foo-bar]
        action: drop
backends:
  - name: central
    url: http://127.0.0.1:9090/api/v1/write
    write_relabel_configs:
      - action: bogus
`);
    expect(found).toHaveLength(3);
    expect(found).toEqual(expect.arrayContaining([
      'relabel_configs[1].modulus: relabel configuration for hashmod requires non-zero modulus',
      'tenants.team-a.relabel_configs[0].source_labels[0]: "foo-bar" is not a valid label name',
      expect.stringContaining('backends[0].write_relabel_configs[0].action: unknown relabel action "bogus"'),
    ]));
  });

  it.each([
    ['replace targeting the cluster label', '{source_labels: [a], target_label: cluster}', 'relabel_configs[0].target_label: target_label "cluster" would change the cluster label'],
    ['labeldrop matching it', '{action: labeldrop, regex: "clus.*"}', 'relabel_configs[0].regex: regex matches "cluster"'],
    ['labelkeep not matching it', '{action: labelkeep, regex: "__name__|job"}', 'relabel_configs[0].regex: regex does not match "cluster"'],
    ['labelmap onto it', '{action: labelmap, regex: "k8s_cluster", replacement: cluster}', 'relabel_configs[0].replacement: replacement "cluster" would change'],
    ['hashmod into it', '{action: hashmod, source_labels: [a], target_label: cluster, modulus: 4}', 'relabel_configs[0].target_label'],
  ])('refuses a rule that would change the cluster label: %s', (_name, rule, expected) => {
    const found = configProblems(`relabel_configs:\n  - ${rule}\n${base}`);
    expect(found.join('\n')).toContain(expected);
  });

  it('refuses it in any stage, under a custom cluster_label', () => {
    const found = configProblems(`
cluster_label: k8s_cluster
backends:
  - name: central
    url: http://127.0.0.1:9090/api/v1/write
    write_relabel_configs:
      - {action: lowercase, source_labels: [a], target_label: k8s_cluster}
`);
    expect(found.join('\n')).toContain('backends[0].write_relabel_configs[0].target_label: target_label "k8s_cluster"');
  });

  it('allows rules that only read the cluster label, and an empty relabel_configs', () => {
    const config = parseConfigText(`
relabel_configs:
  - {source_labels: [cluster], regex: "prod-.*", action: keep}
  - {source_labels: [cluster], target_label: env, regex: "(\\\\w+)-.*"}
tenants:
  team-a:
    relabel_configs:
${base}`);
    expect(config.relabel_configs).toHaveLength(2);
    expect(config.tenants['team-a']?.relabel_configs).toEqual([]);
  });

  it('serialises rules as written (reload compares configs as JSON)', () => {
    const config = parseConfigText(`relabel_configs:\n  - {source_labels: [a], action: KEEP, regex: x}\n${base}`);
    expect(JSON.parse(JSON.stringify(config.relabel_configs))).toEqual([{ source_labels: ['a'], action: 'KEEP', regex: 'x' }]);
  });
});

describe('hashmod modulus', () => {
  const config = (modulus: string) =>
    parseConfigText(`relabel_configs:\n  - {action: hashmod, source_labels: [a], target_label: h, modulus: ${modulus}}\nbackends:\n  - {name: c, url: "http://127.0.0.1:9090/api/v1/write"}\n`);

  it('keeps all 64 bits of a large modulus from the YAML, as Prometheus (uint64) does', () => {
    const parsed = config('18446744073709551615');
    expect(parsed.relabel_configs[0]?.modulus).toBe(18446744073709551615n);
    expect(JSON.stringify(parsed.relabel_configs)).toContain('"modulus":"18446744073709551615"');
  });

  it('refuses a modulus beyond 64 bits', () => {
    expect(() => config('18446744073709551616')).toThrow(/relabel_configs\[0\]\.modulus: must be an unsigned 64-bit integer/);
  });
});
