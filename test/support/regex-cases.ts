/**
 * Shared table of tricky relabel regexes for test/unit/relabel-regex.test.ts (our verdicts, offline)
 * and test/e2e/relabel-regex-promtool.test.ts (the same table checked live against Debian's
 * Prometheus 2.42 `promtool`, Go 1.19.8). The recorded verdicts were produced by that promtool.
 */
import { RegexSyntaxError, RelabelRegex } from '../../src/relabel/regex.js';

/** Marks a pattern Prometheus 2.42 accepts. */
export const OK = 'OK';

/** What compiling `pattern` gives: OK, or the RegexSyntaxError message (as promtool would print it). */
export function verdictOf(pattern: string): string {
  try {
    RelabelRegex.compile(pattern);
    return OK;
  } catch (err) {
    if (!(err instanceof RegexSyntaxError)) throw err;
    return err.message;
  }
}

/** [pattern, Prometheus 2.42's verdict: OK or its exact `error parsing regexp: ...` message]. */
export type VerdictCase = readonly [pattern: string, go: string];

/** Go 1.19's Unicode script names (Unicode 13). RE2 also knows later scripts (Toto, Kawi, ...). */
export const GO119_SCRIPTS: readonly string[] = `
Adlam Ahom Anatolian_Hieroglyphs Arabic Armenian Avestan Balinese Bamum Bassa_Vah Batak Bengali
Bhaiksuki Bopomofo Brahmi Braille Buginese Buhid Canadian_Aboriginal Carian Caucasian_Albanian
Chakma Cham Cherokee Chorasmian Common Coptic Cuneiform Cypriot Cyrillic Deseret Devanagari
Dives_Akuru Dogra Duployan Egyptian_Hieroglyphs Elbasan Elymaic Ethiopic Georgian Glagolitic Gothic
Grantha Greek Gujarati Gunjala_Gondi Gurmukhi Han Hangul Hanifi_Rohingya Hanunoo Hatran Hebrew
Hiragana Imperial_Aramaic Inherited Inscriptional_Pahlavi Inscriptional_Parthian Javanese Kaithi
Kannada Katakana Kayah_Li Kharoshthi Khitan_Small_Script Khmer Khojki Khudawadi Lao Latin Lepcha
Limbu Linear_A Linear_B Lisu Lycian Lydian Mahajani Makasar Malayalam Mandaic Manichaean Marchen
Masaram_Gondi Medefaidrin Meetei_Mayek Mende_Kikakui Meroitic_Cursive Meroitic_Hieroglyphs Miao Modi
Mongolian Mro Multani Myanmar Nabataean Nandinagari New_Tai_Lue Newa Nko Nushu
Nyiakeng_Puachue_Hmong Ogham Ol_Chiki Old_Hungarian Old_Italic Old_North_Arabian Old_Permic
Old_Persian Old_Sogdian Old_South_Arabian Old_Turkic Oriya Osage Osmanya Pahawh_Hmong Palmyrene
Pau_Cin_Hau Phags_Pa Phoenician Psalter_Pahlavi Rejang Runic Samaritan Saurashtra Sharada Shavian
Siddham SignWriting Sinhala Sogdian Sora_Sompeng Soyombo Sundanese Syloti_Nagri Syriac Tagalog
Tagbanwa Tai_Le Tai_Tham Tai_Viet Takri Tamil Tangut Telugu Thaana Thai Tibetan Tifinagh Tirhuta
Ugaritic Vai Wancho Warang_Citi Yezidi Yi Zanabazar_Square`
  .trim()
  .split(/\s+/);

const nest = (n: number, open: string, inner: string, close: string): string => open.repeat(n) + inner + close.repeat(n);

export const VERDICT_CASES: readonly VerdictCase[] = [
  // Accepted: defaults, wrapping, flags, classes, escapes, groups, repeats (sections 5.4 and 5.8).
  ["(.*)", OK],
  [".*", OK],
  ["", OK],
  ["foo", OK],
  ["foo)|(bar", OK],
  ["a|", OK],
  ["|", OK],
  ["()", OK],
  ["(?:)", OK],
  ["(?:(a)|(b))+", OK],
  ["(?s).", OK],
  ["(?s:a.b)", OK],
  ["(?i)k", OK],
  ["(?i-s:a.)", OK],
  ["(?i)a(?-i)b", OK],
  ["(?U)(a+)(a*?)", OK],
  ["(?m)^a$", OK],
  ["(?)", OK],
  ["[[:alpha:]]+", OK],
  ["[[:^alpha:]]", OK],
  ["[[:word:]][[:xdigit:]]", OK],
  ["\\pL", OK],
  ["\\p{Greek}+", OK],
  ["\\PL", OK],
  ["\\p{^Greek}", OK],
  ["\\P{^Greek}", OK],
  ["\\pN", OK],
  ["\\p{Any}", OK],
  ["\\p{Chorasmian}", OK],
  ["\\p{Yezidi}", OK],
  ["\\Qa.b\\E", OK],
  ["\\Q(?<n>\\E", OK],
  ["\\Qab\\E+", OK],
  ["\\Q\\E", OK],
  ["a*\\Q\\E*", OK],
  ["a*(?i)*", OK],
  ["(?P<x>a)(?P<x>b)", OK],
  ["(?P<1>a)", OK],
  ["(?P<_0>a)", OK],
  ["a{,2}", OK],
  ["a{01}", OK],
  ["x{2}", OK],
  ["x{2,}", OK],
  ["x{2,5}", OK],
  ["x{1000}", OK],
  ["(a{10}){100}", OK],
  ["(?:(?:a{2}){0}){1000}", OK],
  ["[]a]", OK],
  ["[^]a]", OK],
  ["[a-]", OK],
  ["[-a]", OK],
  ["[\\d-z]", OK],
  ["[\\pL-z]", OK],
  ["\\x{41}\\x42\\101\\0\\a", OK],
  ["\\_\\-\\/\\ ", OK],
  ["^foo$", OK],
  ["\\Afoo\\z", OK],
  ["\\bfoo\\B", OK],
  ["^*", OK],
  ["\\b*", OK],
  ["$+", OK],
  ["\\x{D800}", OK],
  ["\\\\", OK],
  ["]", OK],
  ["}", OK],
  ["a{", OK],
  ["a{1", OK],
  ["a{1,", OK],
  ["a{,}", OK],
  [`[${GO119_SCRIPTS.map((s) => `\\p{${s}}`).join('')}]`, OK],
  // Go's parse tree may be 1000 high; the wrapper `^(?:…)$` adds one level.
  [nest(998, '(', 'a', ')'), OK],
  [nest(999, '(', 'a', ')'), `error parsing regexp: expression nests too deeply: \`^(?:${nest(999, '(', 'a', ')')})$\``],
  [nest(1500, '(?:', 'a', ')'), OK],
  // Rejected: unbalanced text (the wrapper shows in the message), unsupported Perl syntax and escapes,
  // repeat limits, bad ranges and class names, named groups Go 1.19 does not know, nothing to repeat.
  ["a(b", "error parsing regexp: missing closing ): `^(?:a(b)$`"],
  ["a)", "error parsing regexp: unexpected ): `^(?:a))$`"],
  ["(?P<name", "error parsing regexp: invalid named capture: `(?P<name)$`"],
  ["[a", "error parsing regexp: missing closing ]: `[a)$`"],
  ["\\Qfoo", "error parsing regexp: missing closing ): `^(?:\\Qfoo)$`"],
  ["\\", "error parsing regexp: missing closing ): `^(?:\\)$`"],
  ["[[:alpha:]", "error parsing regexp: missing closing ]: `[[:alpha:])$`"],
  ["\\p{Greek", "error parsing regexp: invalid character class range: `\\p{Greek)$`"],
  ["\\1", "error parsing regexp: invalid escape sequence: `\\1`"],
  ["\\18", "error parsing regexp: invalid escape sequence: `\\1`"],
  ["\\8", "error parsing regexp: invalid escape sequence: `\\8`"],
  ["\\k<a>", "error parsing regexp: invalid escape sequence: `\\k`"],
  ["(?P=a)", "error parsing regexp: invalid or unsupported Perl syntax: `(?P`"],
  ["(?=a)", "error parsing regexp: invalid or unsupported Perl syntax: `(?=`"],
  ["(?!a)", "error parsing regexp: invalid or unsupported Perl syntax: `(?!`"],
  ["(?<=a)", "error parsing regexp: invalid or unsupported Perl syntax: `(?<`"],
  ["(?<!a)", "error parsing regexp: invalid or unsupported Perl syntax: `(?<`"],
  ["(?>a)", "error parsing regexp: invalid or unsupported Perl syntax: `(?>`"],
  ["a*+", "error parsing regexp: invalid nested repetition operator: `*+`"],
  ["a++", "error parsing regexp: invalid nested repetition operator: `++`"],
  ["a**", "error parsing regexp: invalid nested repetition operator: `**`"],
  ["a*?*", "error parsing regexp: invalid nested repetition operator: `*?*`"],
  ["x{2}{3}", "error parsing regexp: invalid nested repetition operator: `{2}{3}`"],
  ["(?(1)a|b)", "error parsing regexp: invalid or unsupported Perl syntax: `(?(`"],
  ["(?#c)", "error parsing regexp: invalid or unsupported Perl syntax: `(?#`"],
  ["(?x)", "error parsing regexp: invalid or unsupported Perl syntax: `(?x`"],
  ["(?i-m-s)", "error parsing regexp: invalid or unsupported Perl syntax: `(?i-m-`"],
  ["(?-)", "error parsing regexp: invalid or unsupported Perl syntax: `(?-)`"],
  ["(?i-)", "error parsing regexp: invalid or unsupported Perl syntax: `(?i-)`"],
  ["\\u0041", "error parsing regexp: invalid escape sequence: `\\u`"],
  ["\\u{41}", "error parsing regexp: invalid escape sequence: `\\u`"],
  ["\\Z", "error parsing regexp: invalid escape sequence: `\\Z`"],
  ["\\G", "error parsing regexp: invalid escape sequence: `\\G`"],
  ["\\h", "error parsing regexp: invalid escape sequence: `\\h`"],
  ["\\R", "error parsing regexp: invalid escape sequence: `\\R`"],
  ["\\X", "error parsing regexp: invalid escape sequence: `\\X`"],
  ["\\e", "error parsing regexp: invalid escape sequence: `\\e`"],
  ["\\cA", "error parsing regexp: invalid escape sequence: `\\c`"],
  ["\\C", "error parsing regexp: invalid escape sequence: `\\C`"],
  ["\\é", "error parsing regexp: invalid escape sequence: `\\é`"],
  ["[\\b]", "error parsing regexp: invalid escape sequence: `\\b`"],
  ["[\\Q]", "error parsing regexp: invalid escape sequence: `\\Q`"],
  ["\\E", "error parsing regexp: invalid escape sequence: `\\E`"],
  ["a{1001}", "error parsing regexp: invalid repeat count: `{1001}`"],
  ["a{2,1}", "error parsing regexp: invalid repeat count: `{2,1}`"],
  ["x{99999999999}", "error parsing regexp: invalid repeat count: `{99999999999}`"],
  ["(a{100}){100}", "error parsing regexp: invalid repeat count: `{100}`"],
  ["(?:(?:a{2}){0,}){1000}", "error parsing regexp: invalid repeat count: `{1000}`"],
  ["[z-a]", "error parsing regexp: invalid character class range: `z-a`"],
  ["[\\x{41}-\\x{40}]", "error parsing regexp: invalid character class range: `\\x{41}-\\x{40}`"],
  ["[a-\\d]", "error parsing regexp: invalid escape sequence: `\\d`"],
  ["[a-\\pL]", "error parsing regexp: invalid escape sequence: `\\p`"],
  ["[[:foo:]]", "error parsing regexp: invalid character class range: `[:foo:]`"],
  ["[[:a]b:]", "error parsing regexp: invalid character class range: `[:a]b:]`"],
  ["\\p{Foo}", "error parsing regexp: invalid character class range: `\\p{Foo}`"],
  ["\\p{Letter}", "error parsing regexp: invalid character class range: `\\p{Letter}`"],
  ["\\p{Script=Greek}", "error parsing regexp: invalid character class range: `\\p{Script=Greek}`"],
  ["\\p{sc=Greek}", "error parsing regexp: invalid character class range: `\\p{sc=Greek}`"],
  ["\\p{ASCII}", "error parsing regexp: invalid character class range: `\\p{ASCII}`"],
  ["\\p{Cn}", "error parsing regexp: invalid character class range: `\\p{Cn}`"],
  ["\\p{LC}", "error parsing regexp: invalid character class range: `\\p{LC}`"],
  ["\\p{Toto}", "error parsing regexp: invalid character class range: `\\p{Toto}`"],
  ["\\p{Kawi}", "error parsing regexp: invalid character class range: `\\p{Kawi}`"],
  ["\\pé", "error parsing regexp: invalid character class range: `\\pé`"],
  ["\\p{}", "error parsing regexp: invalid character class range: `\\p{}`"],
  ["(?<n>a)", "error parsing regexp: invalid or unsupported Perl syntax: `(?<`"],
  ["(?P<>a)", "error parsing regexp: invalid named capture: `(?P<>`"],
  ["(?P<é>a)", "error parsing regexp: invalid named capture: `(?P<é>`"],
  ["(?P<a-b>x)", "error parsing regexp: invalid named capture: `(?P<a-b>`"],
  ["*", "error parsing regexp: missing argument to repetition operator: `*`"],
  ["+a", "error parsing regexp: missing argument to repetition operator: `+`"],
  ["?", "error parsing regexp: missing argument to repetition operator: `?`"],
  ["a|*", "error parsing regexp: missing argument to repetition operator: `*`"],
  ["(*)", "error parsing regexp: missing argument to repetition operator: `*`"],
  ["(?i)*", "error parsing regexp: missing argument to repetition operator: `*`"],
  ["{2}", "error parsing regexp: missing argument to repetition operator: `{2}`"],
  ["\\x4", "error parsing regexp: invalid escape sequence: `\\x4)`"],
  ["\\xZZ", "error parsing regexp: invalid escape sequence: `\\xZZ`"],
  ["\\x{}", "error parsing regexp: invalid escape sequence: `\\x{}`"],
  ["\\x{41", "error parsing regexp: invalid escape sequence: `\\x{41)`"],
  ["\\x{110000}", "error parsing regexp: invalid escape sequence: `\\x{110000`"],
];

/**
 * Patterns where tributary knowingly differs from Prometheus 2.42: RE2's program-size budget (about
 * 8 MB) is smaller than Go's, so RE2 cannot compile these although Go can. tributary refuses them
 * with a message saying so rather than matching differently.
 */
export const RE2_TOO_LARGE_CASES: readonly string[] = ['\\pL{1000}', '\\PL{1000}', '(?:\\pL{100}){10}', '\\p{^L}{500}'];

/** [pattern, input, Go's anchored match: [whole, group 1, ...] with undefined for unset groups, or null]. */
export type MatchCase = readonly [pattern: string, input: string, groups: readonly (string | undefined)[] | null];

export const MATCH_CASES: readonly MatchCase[] = [
  // The default and `.`: any character but \n in 2.42 (3.0 wraps in (?s:...)); \r, U+2028 and astral characters count.
  ['(.*)', 'abc', ['abc', 'abc']],
  ['(.*)', '', ['', '']],
  ['(.*)', 'a\nb', null],
  ['.*', 'x\ry\u2028z', ['x\ry\u2028z']],
  ['a.b', 'a\nb', null],
  ['a.b', 'a\u{1F600}b', ['a\u{1F600}b']],
  ['(.)(.)', '\u{1F600}a', ['\u{1F600}a', '\u{1F600}', 'a']],
  ['.{2}', '\u{1F600}', null],
  ['(?s)a.b', 'a\nb', ['a\nb']],
  ['(?s:.)x', '\nx', ['\nx']],
  ['[^a]', '\n', ['\n']],
  // Textual wrapping: `^(?:foo)|(bar)$` is "starts with foo or ends with bar".
  ['foo)|(bar', 'foo', ['foo', undefined]],
  ['foo)|(bar', 'fooxx', ['foo', undefined]],
  ['foo)|(bar', 'xxbar', ['bar', 'bar']],
  ['foo)|(bar', 'xfoo', null],
  ['foo)|(bar', 'barx', null],
  ['^foo$', 'foo', ['foo']],
  ['\\Afoo\\z', 'foo', ['foo']],
  ['', '', ['']],
  ['', 'a', null],
  ['a|', '', ['']],
  ['a|', 'a', ['a']],
  ['a|', 'b', null],
  ['()', '', ['', '']],
  // Leftmost-first choices, and captures in repeated groups keep the last value set.
  ['(?:(a)|(b))+', 'ab', ['ab', 'a', 'b']],
  ['(?:(a)|(b))+', 'ba', ['ba', 'a', 'b']],
  ['(?:(a)|(b))+', 'aa', ['aa', 'a', undefined]],
  ['(?:a|(b))*c', 'abac', ['abac', 'b']],
  ['(a|ab)(c|bcd)(d*)', 'abcd', ['abcd', 'a', 'bcd', '']],
  ['(foo|foobar)(bar)?', 'foobar', ['foobar', 'foo', 'bar']],
  ['(a)|b', 'b', ['b', undefined]],
  ['(a+)(a*?)', 'aaa', ['aaa', 'aaa', '']],
  ['(a+?)(a*)', 'aaa', ['aaa', 'a', 'aa']],
  ['(?U)(a+)(a*?)', 'aaa', ['aaa', 'a', 'aa']],
  // Case folding is Unicode simple folding.
  ['(?i)k', '\u212a', ['\u212a']],
  ['(?i)k', 'K', ['K']],
  ['k', '\u212a', null],
  ['(?i)s', '\u017f', ['\u017f']],
  ['(?i)[k]', '\u212a', ['\u212a']],
  ['(?i)[^k]', '\u212a', null],
  ['(?i)\\W', '\u212a', null],
  ['(?i)\u03a3', '\u03c2', ['\u03c2']],
  ['(?i)stra\u00dfe', 'STRASSE', null],
  ['(?i)stra\u00dfe', 'STRA\u00dfE', ['STRA\u00dfE']],
  ['(?i-s:a.)', 'A\n', null],
  ['(?i-s:a.)', 'Ab', ['Ab']],
  ['(?i)a(?-i)b', 'AB', null],
  ['(?i)a(?-i)b', 'Ab', ['Ab']],
  ['(?i)[[:upper:]]', 'a', ['a']],
  ['\\p{Lu}', 'a', null],
  ['(?i)\\p{Lu}', 'a', ['a']],
  // Perl classes and \b are ASCII; POSIX classes only inside brackets.
  ['\\s', '\v', null],
  ['\\s', '\f', ['\f']],
  ['[[:space:]]', '\v', ['\v']],
  ['\\d', '\u0663', null],
  ['\\pN', '\u0663', ['\u0663']],
  ['\\w', '\u00e9', null],
  ['x\\b', 'x', ['x']],
  ['\u00e9\\b', '\u00e9', null],
  ['[[:alpha:]]+', 'abc', ['abc']],
  ['[[:alpha:]]+', '\u00e9', null],
  ['[[:^alpha:]]', '1', ['1']],
  ['\\pL+', 'h\u00e9llo', ['h\u00e9llo']],
  ['\\p{Greek}+', '\u03b1\u03b2\u03b3', ['\u03b1\u03b2\u03b3']],
  ['\\PL', '1', ['1']],
  ['\\p{^Greek}', 'a', ['a']],
  ['\\p{Any}', '\n', ['\n']],
  // Multi-line mode and escapes.
  ['(?m:a$\\n^b)', 'a\nb', ['a\nb']],
  ['\\x{41}\\x42\\101\\0', 'ABA\u0000', ['ABA\u0000']],
  ['\\x{1F600}', '\u{1F600}', ['\u{1F600}']],
  ['\\_\\-\\/\\ ', '_-/ ', ['_-/ ']],
  // \Q...\E, literal braces and brackets.
  ['\\Qa.b\\E', 'a.b', ['a.b']],
  ['\\Qa.b\\E', 'axb', null],
  ['\\Qab\\E+', 'abbb', ['abbb']],
  ['\\Q(?<n>\\E', '(?<n>', ['(?<n>']],
  ['a{,2}', 'a{,2}', ['a{,2}']],
  ['a{,2}', 'aa', null],
  ['[]a]+', ']a]', [']a]']],
  ['[^]a]', 'b', ['b']],
  ['[^]a]', ']', null],
  // Named groups may repeat or start with a digit; a group under {0} never participates.
  ['(?P<x>a)(?P<x>b)', 'ab', ['ab', 'a', 'b']],
  ['(?P<1>a)', 'a', ['a', 'a']],
  ['(a){0}b', 'b', ['b', undefined]],
  ['(?:(?:a{2}){0}){1000}', '', ['']],
  ['a*\\Q\\E*', 'aaa', ['aaa']],
  // Text node-re2 would rewrite before RE2 sees it (\u, \c, \p{Letter}, (?<) stays literal, as in Go.
  ['[(?<a>]', 'P', null],
  ['[(?<a>]+', '(?<a>', ['(?<a>']],
  ['\\Q\\u0041\\E', '\\u0041', ['\\u0041']],
  ['\\Q\\p{Letter}\\cA(?<n>x)\\E', '\\p{Letter}\\cA(?<n>x)', ['\\p{Letter}\\cA(?<n>x)']],
  ['[/]x/', '/x/', ['/x/']],
  // Shapes tributary matches without RE2 (fast paths).
  ['foo', 'foo', ['foo']],
  ['foo', 'foox', null],
  ['a\\.b', 'a.b', ['a.b']],
  ['a|b|c', 'b', ['b']],
  ['foo.*', 'foobar', ['foobar']],
  ['foo.*', 'foo\nx', null],
  ['.*bar', 'x\nbar', null],
  ['foo(.*)bar', 'fooXbar', ['fooXbar', 'X']],
  ['foo(.*)bar', 'foobar', ['foobar', '']],
  ['foo(.*)bar', 'fobar', null],
  ['a.*a', 'a', null],
  ['a.*a', 'aa', ['aa']],
];
