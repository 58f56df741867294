/**
 * Every relabel action and default, on label sets, as Prometheus 2.42 applies them
 * (reference/remote-write-and-relabel-facts.md §5.2–5.5).
 */
import { describe, expect, it } from 'vitest';
import { applyRules, compareNames } from '../../src/relabel/engine.js';
import { parseRelabelRule, type RelabelRule } from '../../src/relabel/rules.js';

function rules(...raw: unknown[]): RelabelRule[] {
  return raw.map((r) => {
    const parsed = parseRelabelRule(r);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
    return parsed.rule;
  });
}

/** Run `raw` rules on `labels`; the result as a sorted record, or null when dropped. */
function run(raw: unknown[], labels: Record<string, string>): Record<string, string> | null {
  const set = new Map(Object.entries(labels));
  if (!applyRules(rules(...raw), set)) return null;
  return Object.fromEntries([...set.keys()].sort(compareNames).map((k) => [k, set.get(k) as string]));
}

const up = { __name__: 'up', job: 'node', instance: '10.0.0.1:9100', cluster: 'c1' };

describe.each<[string, unknown[], Record<string, string>, Record<string, string> | null]>([
  // ---- replace ----
  ['replace with defaults copies the source', [{ source_labels: ['job'], target_label: 'j' }], up, { ...up, j: 'node' }],
  ['replace joins sources with ;', [{ source_labels: ['job', 'cluster'], target_label: 'k' }], up, { ...up, k: 'node;c1' }],
  ['replace keeps separators of missing sources', [{ source_labels: ['job', 'nope', 'cluster'], target_label: 'k' }], up, { ...up, k: 'node;;c1' }],
  ['replace with a custom separator', [{ source_labels: ['job', 'cluster'], separator: '/', target_label: 'k' }], up, { ...up, k: 'node/c1' }],
  ['replace with an empty separator', [{ source_labels: ['job', 'cluster'], separator: '', target_label: 'k' }], up, { ...up, k: 'nodec1' }],
  [
    'replace with groups',
    [{ source_labels: ['instance'], regex: '(.*):(\\d+)', target_label: 'host', replacement: '${1}' }],
    up,
    { ...up, host: '10.0.0.1' },
  ],
  [
    'replace with named groups, $name and ${name}',
    [{ source_labels: ['instance'], regex: '(?P<ip>[^:]+):(?P<port>\\d+)', target_label: 'addr', replacement: '$port-${ip}' }],
    up,
    { ...up, addr: '9100-10.0.0.1' },
  ],
  ['replace: no match does nothing', [{ source_labels: ['job'], regex: 'api', target_label: 'j', replacement: 'x' }], up, up],
  ['replace: regex is anchored (no partial match)', [{ source_labels: ['job'], regex: 'nod', target_label: 'j' }], up, up],
  ['replace: empty result deletes the target', [{ source_labels: ['nope'], target_label: 'job' }], up, { __name__: 'up', instance: '10.0.0.1:9100', cluster: 'c1' }],
  ['replace: empty replacement deletes the target', [{ source_labels: ['job'], target_label: 'instance', replacement: '' }], up, { __name__: 'up', job: 'node', cluster: 'c1' }],
  ['replace: a templated target', [{ source_labels: ['job'], regex: '(.*)', target_label: '${1}_seen', replacement: 'yes' }], up, { ...up, node_seen: 'yes' }],
  ['replace: an expanded target that is no label name does nothing', [{ source_labels: ['instance'], target_label: '$1', replacement: 'x' }], up, up],
  [
    'replace: empty result with a templated target deletes the unexpanded name (nothing), 2.42',
    [{ source_labels: ['job'], target_label: '${1}', replacement: '' }],
    up,
    up,
  ],
  ['replace: overwrites an existing label', [{ source_labels: ['instance'], target_label: 'job' }], up, { ...up, job: '10.0.0.1:9100' }],
  ['replace: (.*) does not match a value with a newline (2.42)', [{ source_labels: ['m'], target_label: 'copy' }], { m: 'a\nb' }, { m: 'a\nb' }],
  ['replace: a __tmp label is kept (remote write does not strip it)', [{ source_labels: ['job'], target_label: '__tmp_job' }], up, { ...up, __tmp_job: 'node' }],
  // ---- keep / drop ----
  ['keep: match keeps', [{ source_labels: ['job'], regex: 'node|api', action: 'keep' }], up, up],
  ['keep: no match drops', [{ source_labels: ['job'], regex: 'api', action: 'keep' }], up, null],
  ['keep: missing source is "" (keeps only if the regex matches "")', [{ source_labels: ['nope'], regex: 'x?', action: 'keep' }], up, up],
  ['drop: match drops', [{ source_labels: ['__name__'], regex: 'up|go_.*', action: 'drop' }], up, null],
  ['drop: no match keeps', [{ source_labels: ['__name__'], regex: 'go_.*', action: 'drop' }], up, up],
  [
    'drop stops the chain',
    [
      { source_labels: ['job'], action: 'drop', regex: 'node' },
      { source_labels: ['job'], target_label: 'x' },
    ],
    up,
    null,
  ],
  ['(?i) case-insensitive keep', [{ source_labels: ['job'], regex: '(?i)NODE', action: 'keep' }], up, up],
  // ---- keepequal / dropequal ----
  ['keepequal: equal keeps', [{ source_labels: ['a'], target_label: 'b', action: 'keepequal' }], { a: 'x', b: 'x' }, { a: 'x', b: 'x' }],
  ['keepequal: different drops', [{ source_labels: ['a'], target_label: 'b', action: 'keepequal' }], { a: 'x', b: 'y' }, null],
  ['keepequal: both missing are equal', [{ source_labels: ['a'], target_label: 'b', action: 'keepequal' }], { c: 'z' }, { c: 'z' }],
  ['dropequal: equal drops', [{ source_labels: ['a'], target_label: 'b', action: 'dropequal' }], { a: 'x', b: 'x' }, null],
  ['dropequal: different keeps', [{ source_labels: ['a'], target_label: 'b', action: 'dropequal' }], { a: 'x', b: 'y' }, { a: 'x', b: 'y' }],
  [
    'dropequal joins several sources',
    [{ source_labels: ['a', 'b'], target_label: 'c', action: 'dropequal' }],
    { a: 'x', b: 'y', c: 'x;y' },
    null,
  ],
  // ---- hashmod ----
  ['hashmod (value verified against Prometheus)', [{ source_labels: ['instance'], target_label: 'shard', modulus: 7, action: 'hashmod' }], up, { ...up, shard: '2' }],
  ['hashmod of a missing label hashes ""', [{ source_labels: ['nope'], target_label: 'h', modulus: 1000, action: 'hashmod' }], { a: '1' }, { a: '1', h: '958' }],
  // ---- labelmap ----
  [
    'labelmap copies matching labels under a new name',
    [{ action: 'labelmap', regex: '__meta_(.+)', replacement: 'm_$1' }],
    { __meta_zone: 'eu', __meta_rack: 'r1', job: 'x' },
    { __meta_rack: 'r1', __meta_zone: 'eu', job: 'x', m_rack: 'r1', m_zone: 'eu' },
  ],
  [
    'labelmap: the later label in name order wins a clash',
    [{ action: 'labelmap', regex: '(?:a|b)_(.*)', replacement: '$1' }],
    { a_x: '1', b_x: '2' },
    { a_x: '1', b_x: '2', x: '2' },
  ],
  ['labelmap: overwrites an existing label', [{ action: 'labelmap', regex: 'src', replacement: 'job' }], { src: 'a', job: 'b' }, { src: 'a', job: 'a' }],
  ['labelmap: default replacement $1 with default regex maps a label onto itself', [{ action: 'labelmap' }], { a: '1' }, { a: '1' }],
  // ---- labeldrop / labelkeep ----
  ['labeldrop removes matching names', [{ action: 'labeldrop', regex: 'instance|job' }], up, { __name__: 'up', cluster: 'c1' }],
  ['labeldrop is anchored', [{ action: 'labeldrop', regex: 'inst' }], up, up],
  ['labelkeep keeps only matching names', [{ action: 'labelkeep', regex: '__name__|cluster' }], up, { __name__: 'up', cluster: 'c1' }],
  // ---- lowercase / uppercase ----
  ['lowercase', [{ source_labels: ['m'], target_label: 'l', action: 'lowercase' }], { m: 'MiXeD' }, { m: 'MiXeD', l: 'mixed' }],
  ['uppercase', [{ source_labels: ['m'], target_label: 'u', action: 'uppercase' }], { m: 'MiXeD' }, { m: 'MiXeD', u: 'MIXED' }],
  ['uppercase with Go simple case mapping (ß stays)', [{ source_labels: ['m'], target_label: 'u', action: 'uppercase' }], { m: 'straße' }, { m: 'straße', u: 'STRAßE' }],
  ['lowercase of İSTANBUL, per code point', [{ source_labels: ['m'], target_label: 'l', action: 'lowercase' }], { m: 'İSTANBUL' }, { m: 'İSTANBUL', l: 'istanbul' }],
  ['lowercase: an empty result deletes the target', [{ source_labels: ['nope'], target_label: 'm', action: 'lowercase' }], { m: 'X' }, {}],
  ['lowercase: a template-looking target is used literally', [{ source_labels: ['m'], target_label: '${1}', action: 'lowercase' }], { m: 'X' }, { m: 'X', '${1}': 'x' }],
])('%s', (_name, raw, input, expected) => {
  it('gives what Prometheus gives', () => {
    expect(run(raw, input)).toEqual(expected);
  });
});

describe('chaining', () => {
  it('each rule sees the previous one’s output', () => {
    const out = run(
      [
        { source_labels: ['instance'], regex: '(.*):.*', target_label: 'host' },
        { source_labels: ['host'], target_label: 'host_upper', action: 'uppercase' },
        { action: 'labeldrop', regex: 'host' },
      ],
      { instance: 'db-1:9100' },
    );
    expect(out).toEqual({ instance: 'db-1:9100', host_upper: 'DB-1' });
  });

  it('a chain can empty the label set (the caller drops the series then)', () => {
    expect(run([{ action: 'labeldrop', regex: '.*' }], up)).toEqual({});
  });
});

describe('compareNames: UTF-8 byte order', () => {
  it.each([
    ['a', 'b', -1],
    ['__name__', 'a', -1],
    ['A', 'a', -1],
    ['ab', 'a', 1],
    ['\uffff', '\u{10000}', -1],
    ['\u{10000}', '\ue000', 1],
  ])('%j vs %j', (a, b, sign) => {
    expect(Math.sign(compareNames(a, b))).toBe(sign);
    expect(Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b)))).toBe(sign);
  });
});
