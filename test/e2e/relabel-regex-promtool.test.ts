/**
 * Differential test of relabel regexes against Debian's Prometheus 2.42 `promtool` (Go 1.19.8):
 * 1. every pattern of the shared table must be accepted by RelabelRegex.compile exactly when
 *    `promtool check config` accepts it in a `write_relabel_configs` rule, with the same message;
 * 2. matching: PromQL's label_replace in 2.42 compiles `^(?:` + regex + `)$` like relabeling, so a
 *    `promtool test rules` run checks our match results (whole match and groups) against Go's.
 * The table lives in test/support/regex-cases.ts so the unit test can check our side offline.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RelabelRegex } from '../../src/relabel/regex.js';
import { e2eAvailable } from '../support/e2e.js';
import { PROMTOOL, promtool } from '../support/promtool.js';
import { MATCH_CASES, OK, RE2_TOO_LARGE_CASES, VERDICT_CASES, verdictOf } from '../support/regex-cases.js';


function promtoolAvailable(): boolean {
  if (!e2eAvailable()) return false;
  if (existsSync(PROMTOOL)) return true;
  // e2eAvailable() found Prometheus, so its promtool should be there too.
  throw new Error(`${PROMTOOL} is missing although prometheus is installed`);
}
const available = promtoolAvailable();

/** Runs the jobs with at most `limit` in flight. */
async function limited<T>(limit: number, jobs: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await (jobs[i] as () => Promise<T>)();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  return results;
}


/** Go string literal (also PromQL's): escapes that promtool's parsers all understand, ASCII only. */
function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (c >= 0x20 && c < 0x7f) out += ch;
    else if (c <= 0xffff) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += `\\U${c.toString(16).padStart(8, '0')}`;
  }
  return `${out}"`;
}

/** Deterministic xorshift32, so the generated cases are the same on every run. */
function prng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

/** Syntax-fuzzing fragments: random sequences hit every branch of Go's parser, valid or not. */
const FRAGMENTS = [
  'a', 'k', '.', '*', '+', '?', '{', '}', '{2}', '{1,3}', '{0}', '{0,}', '{1000}', '{,2}', '{01}', '(', ')', '(?:', '(?i)', '(?i:',
  '(?P<n>', '(?P<1>', '(?<n>', '(?P<>', '(?-)', '(?U)', '(?s:', '(?m)', '(?i-s:', '|', '[', ']', '[^', '^', '$', '-', '\\', '\\d',
  '\\pL', '\\p{Greek}', '\\p{Toto}', '\\p{^L}', '\\pé', '\\Q', '\\E', '[:alpha:]', '[:foo:]', ':', '\\x{41}', '\\x4', '\\1',
  '\\0', '\\12', '\\8', '\\b', '\\B', '\\A', '\\z', '\\Z', '\\C', '\\u', '\\_', 'é', '\n', 'z-a', '\\d-z', 'a-\\d', '(?#', '(?=', '\\e', '**', '*?',
];

function generatedPatterns(count: number): string[] {
  const rnd = prng(20230131);
  const out = new Set<string>();
  while (out.size < count) {
    let p = '';
    for (let n = 1 + rnd(7); n > 0; n--) p += FRAGMENTS[rnd(FRAGMENTS.length)];
    out.add(p);
  }
  return [...out];
}

/** Pairs where the pattern is built around the input, so most match and groups have choices to make. */
function generatedMatchCases(count: number): [pattern: string, input: string][] {
  const rnd = prng(424242);
  const pick = <T>(a: readonly T[]): T => a[rnd(a.length)] as T;
  const chars = ['a', 'b', 'k', 'K', 'A', 's', 'S', '\u017f', '\u212a', '\n', '.', '\u00e9', '\u03b1', '\u03a3', '1', ' ', '_'];
  const lit = (ch: string): string => (ch === '.' ? '\\.' : ch === '\n' ? '\\n' : ch);
  const atom = (ch: string): string => {
    switch (rnd(8)) {
      case 0:
        return '.';
      case 1:
        return `[${lit(ch)}b]`;
      case 2:
        return `(?i:${ch === ch.toUpperCase() ? ch.toLowerCase() : ch.toUpperCase()})`.replace('\n', '\\n');
      case 3:
        return /\w/.test(ch) ? '\\w' : /\p{L}/u.test(ch) ? '\\pL' : '\\W';
      case 4:
        return `${lit(ch)}?`;
      case 5:
        return `(?:${lit(ch)}|${pick(['a', 'k', '.', ''])})`;
      default:
        return lit(ch);
    }
  };
  const out: [string, string][] = [];
  while (out.length < count) {
    let input = '';
    for (let n = 1 + rnd(6); n > 0; n--) input += pick(chars);
    const parts = [...input].map(atom);
    for (let k = 0; k < 3; k++) {
      const i = rnd(parts.length);
      const j = i + rnd(parts.length - i);
      parts[i] = pick(['(', '(?:', '(?P<g>', '(?U:', '(?i:']) + parts[i];
      parts[j] = `${parts[j]})${pick(['', '*', '+', '?', '*?', '+?', '{1,2}', '{0,3}?'])}`;
    }
    let pattern = parts.join('');
    if (rnd(3) === 0) pattern = `${pattern}|${pick(['a*', '(a)', '.*', 'k'])}`;
    if (rnd(5) === 0) pattern = `(.*?)${pattern}(.*)`;
    if (verdictOf(pattern) === OK) out.push([pattern, input]);
  }
  return out;
}

const show = (p: string): string => {
  const j = JSON.stringify(p);
  return j.length > 60 ? `${j.slice(0, 57)}...` : j;
};

/** promtool's verdict per pattern (OK or its `error parsing regexp: ...` message), one config file each. */
async function checkConfigs(dir: string, patterns: readonly string[]): Promise<Map<string, string>> {
  const files = patterns.map((pattern, i) => {
    const file = join(dir, `p${i}.yml`);
    // JSON is valid YAML, so JSON.stringify quotes any pattern safely.
    const rule = { source_labels: ['__name__'], regex: pattern, action: 'keep' };
    writeFileSync(file, `remote_write:\n  - url: http://127.0.0.1:9/api/v1/write\n    write_relabel_configs:\n      - ${JSON.stringify(rule)}\n`);
    return file;
  });
  // promtool checks many files per run and reports on each; a few runs, two at a time.
  const chunks: string[][] = [];
  for (let i = 0; i < files.length; i += 100) chunks.push(files.slice(i, i + 100));
  const runs = await limited(
    2,
    chunks.map((chunk) => () => promtool(['check', 'config', ...chunk])),
  );
  const byFile = new Map<string, string>();
  for (const run of runs) {
    for (const m of run.stdout.matchAll(/SUCCESS: (\S+) is valid/g)) byFile.set(m[1] as string, OK);
    // A message may span lines (patterns with \n), so cut stderr at each FAILED marker.
    for (const part of run.stderr.split(/^\s*FAILED: /m).slice(1)) {
      const m = /^parsing YAML file (\S+): ([\s\S]*)$/.exec(part.trimEnd());
      if (m) byFile.set(m[1] as string, m[2] as string);
    }
  }
  const verdicts = new Map<string, string>();
  patterns.forEach((p, i) => {
    verdicts.set(p, byFile.get(files[i] as string) ?? `no verdict from promtool for ${files[i]}`);
  });
  return verdicts;
}

/**
 * Checks our match of each (pattern, input) against Go's with one `promtool test rules` run: rule k
 * is label_replace(m{case="k"}, "out", "m:${0}|${1}|...", "in", pattern) and the expected sample is
 * built from our match (Go's Expand writes "" for unset groups, so unset and "" are not told apart).
 * Returns the cases promtool reports as different, and its output.
 */
async function compareMatches(dir: string, name: string, cases: readonly (readonly [pattern: string, input: string, ...rest: unknown[]])[]): Promise<{ failing: string[]; output: string; code: number }> {
  const rules: string[] = [];
  const series: string[] = [];
  const tests: string[] = [];
  cases.forEach(([pattern, input], k) => {
    const re = RelabelRegex.compile(pattern);
    const template = `m:${Array.from({ length: re.groupCount + 1 }, (_, g) => `\${${g}}`).join('|')}`;
    const expr = `label_replace(m{case="${k}"}, "out", ${goQuote(template)}, "in", ${goQuote(pattern)})`;
    rules.push(`      - record: r${k}\n        expr: ${JSON.stringify(expr)}`);
    // An empty label value is no label at all, in the input and in the result.
    const inLabel = input === '' ? '' : `, in=${goQuote(input)}`;
    series.push(`      - series: ${JSON.stringify(`m{case="${k}"${inLabel}}`)}\n        values: '1'`);
    const got = re.match(input);
    const outLabel = got === null ? '' : `, out=${goQuote(`m:${got.map((g) => g ?? '').join('|')}`)}`;
    tests.push(`      - expr: r${k}\n        eval_time: 0\n        exp_samples:\n          - labels: ${JSON.stringify(`r${k}{case="${k}"${inLabel}${outLabel}}`)}\n            value: 1`);
  });
  writeFileSync(join(dir, `${name}.rules.yml`), `groups:\n  - name: regex\n    rules:\n${rules.join('\n')}\n`);
  const testFile = join(dir, `${name}.test.yml`);
  writeFileSync(
    testFile,
    `rule_files: [${name}.rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n${series.join('\n')}\n    promql_expr_test:\n${tests.join('\n')}\n`,
  );
  const run = await promtool(['test', 'rules', testFile]);
  const output = `${run.stdout}\n${run.stderr}`;
  const failing = [...output.matchAll(/expr: "r(\d+)"/g)].map((m) => {
    const [pattern, input] = cases[Number(m[1])] as readonly [string, string];
    return `${show(pattern)} on ${JSON.stringify(input)}`;
  });
  return { failing, output: output.slice(0, 20_000), code: run.code };
}

describe.runIf(available)('relabel regexes versus promtool 2.42', () => {
  let dir = '';
  let verdicts = new Map<string, string>();
  const generated = generatedPatterns(600);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tributary-regex-'));
    const patterns = [...new Set([...VERDICT_CASES.map(([p]) => p), ...RE2_TOO_LARGE_CASES, ...MATCH_CASES.map(([p]) => p), ...generated])];
    verdicts = await checkConfigs(dir, patterns);
  }, 60_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each(VERDICT_CASES.map(([pattern, go], i) => ({ i, pattern, go, name: show(pattern) })))('#$i $name: same verdict as promtool', ({ pattern, go }) => {
    const prom = verdicts.get(pattern);
    expect(prom, 'promtool disagrees with the recorded verdict').toBe(go);
    expect(verdictOf(pattern)).toBe(prom);
  });

  it.each(RE2_TOO_LARGE_CASES.map((pattern) => ({ pattern, name: show(pattern) })))('$name: accepted by promtool, too large for RE2 (known difference)', ({ pattern }) => {
    expect(verdicts.get(pattern)).toBe(OK);
    expect(verdictOf(pattern)).toMatch(/^error parsing regexp: expression too large: .*RE2/s);
  });

  it(`${generated.length} generated patterns: same verdicts and messages as promtool`, () => {
    const differ: string[] = [];
    for (const pattern of generated) {
      const prom = verdicts.get(pattern) as string;
      const mine = verdictOf(pattern);
      // RE2's smaller program budget (see RE2_TOO_LARGE_CASES) is the one known difference.
      if (prom === OK && /^error parsing regexp: expression too large: .*RE2/s.test(mine)) continue;
      if (mine !== prom) differ.push(`${show(pattern)}\n  promtool: ${prom}\n  ours:     ${mine}`);
    }
    expect(differ).toEqual([]);
  });

  it('match results of the table (whole match and groups) equal Go’s, via label_replace', async () => {
    for (const [pattern] of MATCH_CASES) expect(verdicts.get(pattern), `promtool refuses ${show(pattern)}`).toBe(OK);
    const { failing, output, code } = await compareMatches(dir, 'table', MATCH_CASES);
    expect(failing, output).toEqual([]);
    expect(code, output).toBe(0);
  });

  it('match results of 400 generated pattern/input pairs equal Go’s, via label_replace', async () => {
    const { failing, output, code } = await compareMatches(dir, 'generated', generatedMatchCases(400));
    expect(failing, output).toEqual([]);
    expect(code, output).toBe(0);
  });
});
