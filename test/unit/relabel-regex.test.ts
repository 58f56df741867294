/**
 * RelabelRegex: relabel regexes compiled and matched as Prometheus 2.42 does (Go 1.19 regexp over
 * `^(?:` + regex + `)$`), see reference/remote-write-and-relabel-facts.md §5.4 and §5.8.
 * The verdict and match tables are shared with test/e2e/relabel-regex-promtool.test.ts, which
 * checks the same rows against the real promtool; here we check our side offline.
 */
import fc from 'fast-check';
import RE2 from 're2';
import { describe, expect, it } from 'vitest';
import { RegexSyntaxError, RelabelRegex } from '../../src/relabel/regex.js';
import { GO119_SCRIPTS, MATCH_CASES, OK, RE2_TOO_LARGE_CASES, VERDICT_CASES, verdictOf } from '../support/regex-cases.js';


const show = (p: string): string => {
  const j = JSON.stringify(p);
  return j.length > 60 ? `${j.slice(0, 57)}...` : j;
};

describe('compile: the verdicts of Prometheus 2.42 (recorded from promtool)', () => {
  it.each(VERDICT_CASES.map(([pattern, go], i) => ({ i, pattern, go, name: show(pattern) })))('#$i $name', ({ pattern, go }) => {
    expect(verdictOf(pattern)).toBe(go);
  });

  it.each(RE2_TOO_LARGE_CASES)('%s: Go accepts it, RE2 cannot compile it, and the message says so', (pattern) => {
    expect(verdictOf(pattern)).toMatch(/^error parsing regexp: expression too large: `.*` \(RE2, the engine tributary matches with, cannot compile it/s);
  });

  it('throws RegexSyntaxError, an Error', () => {
    expect(() => RelabelRegex.compile('a(')).toThrow(RegexSyntaxError);
    try {
      RelabelRegex.compile('a(');
    } catch (err) {
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).name).toBe('RegexSyntaxError');
    }
  });

  it('accepts every Go 1.19 Unicode script and category, and rejects the names added after Unicode 13', () => {
    for (const name of [...GO119_SCRIPTS, 'L', 'Lu', 'Nd', 'Zs', 'C', 'Any']) expect(verdictOf(`\\p{${name}}`), name).toBe(OK);
    for (const name of ['Cypro_Minoan', 'Old_Uyghur', 'Tangsa', 'Toto', 'Vithkuqi', 'Kawi', 'Nag_Mundari', 'Latn', 'greek']) {
      expect(verdictOf(`\\p{${name}}`), name).toBe(`error parsing regexp: invalid character class range: \`\\p{${name}}\``);
    }
  });

  it('limits nested counted repeats to a product of 1000, except under {0}', () => {
    expect(verdictOf('(?:a{10}){100}')).toBe(OK);
    expect(verdictOf('(?:a{10}){101}')).toBe('error parsing regexp: invalid repeat count: `{101}`');
    expect(verdictOf('(?:(?:a{2}){0}){1000}')).toBe(OK);
    expect(verdictOf('((a{2})*){1000}')).toBe('error parsing regexp: invalid repeat count: `{1000}`');
  });

  it('a repetition may follow \\Q\\E or a flag group, applying to what came before (Go resets its "last repeat")', () => {
    expect(RelabelRegex.compile('a*\\Q\\E*').matches('aaa')).toBe(true);
    expect(RelabelRegex.compile('ab(?i)+').match('abbB')).toBeNull();
    expect(RelabelRegex.compile('ab(?i)+').match('abbb')).toEqual(['abbb']);
  });
});

describe('match: Go’s anchored results (the same rows are checked against Go in the e2e test)', () => {
  it.each(MATCH_CASES.map(([pattern, input, groups], i) => ({ i, pattern, input, groups, name: `${show(pattern)} on ${JSON.stringify(input)}` })))(
    '#$i $name',
    ({ pattern, input, groups }) => {
      const re = RelabelRegex.compile(pattern);
      const got = re.match(input);
      expect(got === null ? null : [...got]).toEqual(groups === null ? null : [...groups]);
      if (got !== null) expect(got.length).toBe(re.groupCount + 1);
      expect(re.matches(input)).toBe(groups !== null);
    },
  );
});

describe('groups', () => {
  it('counts capture groups in order, names kept as written (repeats and digit-leading names allowed)', () => {
    const re = RelabelRegex.compile('(?P<x>a)(b)(?P<x>c)(?:d)(?P<1>e)');
    expect(re.groupCount).toBe(4);
    expect(re.groupNames).toEqual([undefined, 'x', undefined, 'x', '1']);
    expect(re.match('abcde')).toEqual(['abcde', 'a', 'b', 'c', 'e']);
  });

  it('counts the group the wrapper exposes in foo)|(bar, and groups inside {0}', () => {
    expect(RelabelRegex.compile('foo)|(bar').groupCount).toBe(1);
    const re = RelabelRegex.compile('(a(?P<n>b)){0}(c)');
    expect(re.groupCount).toBe(3);
    expect(re.groupNames).toEqual([undefined, undefined, 'n', undefined]);
    expect(re.match('c')).toEqual(['c', undefined, undefined, 'c']);
  });

  it('keeps source and marks the default regex', () => {
    expect(RelabelRegex.compile('(.*)').isDefault).toBe(true);
    expect(RelabelRegex.compile('(.*)').source).toBe('(.*)');
    expect(RelabelRegex.compile('.*').isDefault).toBe(false);
    expect(RelabelRegex.compile('(?:.*)').groupCount).toBe(0);
  });
});

/** Private state, read only to prove the property below really runs on the fast paths. */
const fastKind = (re: RelabelRegex): string | undefined => (re as unknown as { fast?: { kind: string } }).fast?.kind;

describe('fast paths agree with RE2', () => {
  const cases: [pattern: string, kind: string][] = [
    ['(.*)', 'wild'],
    ['.*', 'wild'],
    ['', 'equal'],
    ['foo', 'equal'],
    ['a\\.b', 'equal'],
    ['a\n', 'equal'],
    ['\\|\\*]}', 'equal'],
    ['a|b|', 'set'],
    ['|', 'set'],
    ['ab|a|b|ab', 'set'],
    ['fo.*', 'wild'],
    ['f(.*)', 'wild'],
    ['.*oo', 'wild'],
    ['(.*)o', 'wild'],
    ['f.*o', 'wild'],
    ['o(.*)o', 'wild'],
    ['a\n.*', 'wild'],
    ['\\..*\\|', 'wild'],
  ];
  const alphabet = fc.constantFrom('a', 'b', 'f', 'o', '\n', '\r', '.', '|', '*', ']', '}', '\u{1F600}');
  const text = fc.array(alphabet, { maxLength: 8 }).map((a) => a.join(''));

  it.each(cases)('%j uses the %s fast path and matches exactly like RE2 on ^(?:…)$', (pattern, kind) => {
    const re = RelabelRegex.compile(pattern);
    expect(fastKind(re)).toBe(kind);
    // These patterns mean the same to node-re2 as to Go, so RE2 on the raw wrapped text is the reference.
    const reference = new RE2(`^(?:${pattern})$`, 'u');
    fc.assert(
      fc.property(text, (s) => {
        const want = reference.exec(s);
        const got = re.match(s);
        expect(got === null ? null : [...got]).toEqual(want === null ? null : [...want]);
        expect(re.matches(s)).toBe(want !== null);
      }),
      { numRuns: 400 },
    );
  });

  it.each(['.*?', 'a.*?', '.*.*', 'a{2}', '(?:.*)', '(.*)(.*)', '(a.*)', 'a+', '\\d', '.', '(?i)a', '\\Qa\\E', '[a]', 'a\\pL'])(
    '%j is not mistaken for a fast path',
    (pattern) => {
      expect(fastKind(RelabelRegex.compile(pattern))).toBeUndefined();
    },
  );
});

describe('robustness', () => {
  // Fragments chosen to hit every branch of the parser, in random order: whatever comes out must be a
  // Go-style verdict, never a crash or RE2 rejecting our translation.
  const fragments = [
    'a', 'k', '.', '*', '+', '?', '{', '}', '{2}', '{1,3}', '{0}', '{0,}', '{1000}', '{,2}', '(', ')', '(?:', '(?i)', '(?i:', '(?P<n>',
    '(?P<1>', '(?<n>', '(?U)', '(?s:', '(?m)', '(?-i)', '|', '[', ']', '[^', '^', '$', '-', '\\', '\\d', '\\pL', '\\p{Greek}', '\\PL',
    '\\p{^L}', '\\Q', '\\E', '[:alpha:]', '[:foo:]', ':', '\\x{41}', '\\x4', '\\1', '\\0', '\\12', '\\b', '\\B', '\\A', '\\z', '\\C', '\\u', '\\_',
    'é', '\n', 'z-a', '\\d-z', '(?#', '\\t', '/', '(?<',
  ];
  const pattern = fc.array(fc.constantFrom(...fragments), { maxLength: 8 }).map((a) => a.join(''));

  it('every pattern compiles or fails with a Go-style message; accepted ones match without throwing', () => {
    fc.assert(
      fc.property(pattern, fc.string({ maxLength: 6 }), (p, s) => {
        const v = verdictOf(p);
        if (v !== OK) {
          expect(v).toMatch(/^error parsing regexp: /);
          expect(v).not.toMatch(/tributary bug/);
          return;
        }
        const re = RelabelRegex.compile(p);
        const got = re.match(s);
        expect(re.matches(s)).toBe(got !== null);
        if (got !== null) expect(got.length).toBe(re.groupCount + 1);
      }),
      { numRuns: 3000 },
    );
  });

  it('stays linear on patterns that make backtracking engines explode', () => {
    const re = RelabelRegex.compile('(a+)+b');
    const start = performance.now();
    expect(re.matches(`${'a'.repeat(50_000)}c`)).toBe(false);
    expect(performance.now() - start).toBeLessThan(1000);
  });
});
