/**
 * Relabel regexes exactly as Prometheus 2.42 compiles and matches them.
 *
 * Prometheus 2.42 (Debian's build, Go 1.19.8) compiles the text `^(?:` + regex + `)$` with Go's
 * `regexp` package. We match with node-re2 (C++ RE2: same family, same leftmost-first semantics,
 * linear time), but the two parsers do not accept the same language, and node-re2 rewrites some
 * JavaScript syntax (`\uXXXX`, `\cX`, `\p{Letter}`, `(?<name>`, even inside `\Q..\E` and character
 * classes) before RE2 sees it. So we never hand the configured text to RE2. Instead we parse the
 * wrapped text ourselves, following Go 1.19's `regexp/syntax` parser step by step so that we accept
 * and reject exactly what it does (with its error messages), and emit a canonical pattern for RE2
 * in which every atom is self-contained: flags are resolved per atom (`(?i:k)`, `(?s:.)`,
 * `(?m:^)`, greedy/lazy written out), literals are escaped, `\Q..\E` is expanded, named groups
 * become plain groups (names are kept here, so duplicate and digit-leading names work as in Go),
 * and group numbering is unchanged.
 *
 * Known differences from Prometheus 2.42, all confined to pathological patterns (the differential
 * tests against promtool, test/e2e/relabel-regex-promtool.test.ts, check everything else):
 * - RE2's program-size budget (about 8 MB) is smaller than Go's, so a few huge patterns Go accepts
 *   (`\pL{1000}`, `(?:\pL{100}){10}`) cannot be compiled; they are refused with a message saying so.
 * - Go's nesting-depth limit (parse-tree height 1000) is modelled on Go's tree, but Go's alternation
 *   factoring only approximately, so patterns nested to within a few levels of 1000 can be judged
 *   differently.
 * - Go 1.19.8 also refuses some patterns with hundreds of nested groups around counted repeats with
 *   `regexp/syntax: internal error` (its parse-size limit, whose running estimate we do not
 *   reproduce; the real size of those patterns is small); we accept them.
 * - Character membership and case folding come from RE2's Unicode 15.1 tables, not Go 1.19's 13.0
 *   (only characters assigned since differ); the accepted script names are Go 1.19's.
 */
import RE2 from 're2';

/** A relabel regex that RE2/Go 1.19 would not compile; message says what is wrong, like Go's `error parsing regexp: ...`. */
export class RegexSyntaxError extends Error {
  override name = 'RegexSyntaxError';
}

// Go's regexp/syntax error codes (their String() texts), so messages read like promtool's.
const E_INVALID_CHAR_RANGE = 'invalid character class range';
const E_INVALID_ESCAPE = 'invalid escape sequence';
const E_INVALID_NAMED_CAPTURE = 'invalid named capture';
const E_INVALID_PERL_OP = 'invalid or unsupported Perl syntax';
const E_INVALID_REPEAT_OP = 'invalid nested repetition operator';
const E_INVALID_REPEAT_SIZE = 'invalid repeat count';
const E_INVALID_UTF8 = 'invalid UTF-8';
const E_MISSING_BRACKET = 'missing closing ]';
const E_MISSING_PAREN = 'missing closing )';
const E_MISSING_REPEAT_ARGUMENT = 'missing argument to repetition operator';
const E_TRAILING_BACKSLASH = 'trailing backslash at end of expression';
const E_UNEXPECTED_PAREN = 'unexpected )';
const E_NESTING_DEPTH = 'expression nests too deeply';
const E_LARGE = 'expression too large';

function syntaxError(code: string, expr: string): RegexSyntaxError {
  return new RegexSyntaxError(`error parsing regexp: ${code}: \`${expr}\``);
}

/** Go's limits: repeat counts, nested repeat products and parse-tree height (regexp/syntax in Go 1.19.8). */
const MAX_REPEAT = 1000;
const MAX_HEIGHT = 1000;

// Flags Go tracks while parsing (its Perl mode always has ClassNL, OneLine-by-default, PerlX, UnicodeGroups).
const F_FOLD = 1; // (?i)
const F_MULTILINE = 2; // (?m): clears Go's OneLine
const F_DOTNL = 4; // (?s)
const F_UNGREEDY = 8; // (?U)

const POSIX_NAMES = new Set(
  ['alnum', 'alpha', 'ascii', 'blank', 'cntrl', 'digit', 'graph', 'lower', 'print', 'punct', 'space', 'upper', 'word', 'xdigit'].flatMap((n) => [
    `[:${n}:]`,
    `[:^${n}:]`,
  ]),
);

/** Go 1.19's unicode.Categories keys (no Cn, no LC). */
const UNICODE_CATEGORIES =
  'C Cc Cf Co Cs L Ll Lm Lo Lt Lu M Mc Me Mn N Nd Nl No P Pc Pd Pe Pf Pi Po Ps S Sc Sk Sm So Z Zl Zp Zs';
/**
 * Go 1.19's unicode.Scripts keys (Unicode 13.0). RE2's newer tables also know the scripts added in
 * Unicode 14/15 (Toto, Kawi, ...), which Go 1.19 rejects, so the list is ours, not RE2's.
 */
const UNICODE_SCRIPTS =
  'Adlam Ahom Anatolian_Hieroglyphs Arabic Armenian Avestan Balinese Bamum Bassa_Vah Batak Bengali Bhaiksuki ' +
  'Bopomofo Brahmi Braille Buginese Buhid Canadian_Aboriginal Carian Caucasian_Albanian Chakma Cham Cherokee ' +
  'Chorasmian Common Coptic Cuneiform Cypriot Cyrillic Deseret Devanagari Dives_Akuru Dogra Duployan ' +
  'Egyptian_Hieroglyphs Elbasan Elymaic Ethiopic Georgian Glagolitic Gothic Grantha Greek Gujarati Gunjala_Gondi ' +
  'Gurmukhi Han Hangul Hanifi_Rohingya Hanunoo Hatran Hebrew Hiragana Imperial_Aramaic Inherited ' +
  'Inscriptional_Pahlavi Inscriptional_Parthian Javanese Kaithi Kannada Katakana Kayah_Li Kharoshthi ' +
  'Khitan_Small_Script Khmer Khojki Khudawadi Lao Latin Lepcha Limbu Linear_A Linear_B Lisu Lycian Lydian ' +
  'Mahajani Makasar Malayalam Mandaic Manichaean Marchen Masaram_Gondi Medefaidrin Meetei_Mayek Mende_Kikakui ' +
  'Meroitic_Cursive Meroitic_Hieroglyphs Miao Modi Mongolian Mro Multani Myanmar Nabataean Nandinagari ' +
  'New_Tai_Lue Newa Nko Nushu Nyiakeng_Puachue_Hmong Ogham Ol_Chiki Old_Hungarian Old_Italic Old_North_Arabian ' +
  'Old_Permic Old_Persian Old_Sogdian Old_South_Arabian Old_Turkic Oriya Osage Osmanya Pahawh_Hmong Palmyrene ' +
  'Pau_Cin_Hau Phags_Pa Phoenician Psalter_Pahlavi Rejang Runic Samaritan Saurashtra Sharada Shavian Siddham ' +
  'SignWriting Sinhala Sogdian Sora_Sompeng Soyombo Sundanese Syloti_Nagri Syriac Tagalog Tagbanwa Tai_Le ' +
  'Tai_Tham Tai_Viet Takri Tamil Tangut Telugu Thaana Thai Tibetan Tifinagh Tirhuta Ugaritic Vai Wancho ' +
  'Warang_Citi Yezidi Yi Zanabazar_Square';
const UNICODE_NAMES = new Set(['Any', ...UNICODE_CATEGORIES.split(' '), ...UNICODE_SCRIPTS.split(' ')]);

const PERL_CLASSES = new Set(['d', 'D', 's', 'S', 'w', 'W']);

// ---------------------------------------------------------------------------------------------
// Parse tree: just enough of Go's to reproduce its checks (stack discipline, repeat-size walk,
// tree height) and to emit the canonical RE2 pattern.

type Node =
  | { kind: 'lit'; runes: number[]; fold: boolean; height: 1 }
  /** A one-position or zero-width item emitted as-is; `oneChar` when it matches exactly one character (Go may merge these in alternations). */
  | { kind: 'leaf'; text: string; oneChar: boolean; height: 1 }
  | { kind: 'empty'; height: 1 }
  | { kind: 'capture'; sub: Node; height: number }
  | { kind: 'repeat'; op: '*' | '+' | '?' | '{'; min: number; max: number; lazy: boolean; sub: Node; height: number }
  | { kind: 'concat'; subs: Node[]; height: number }
  | { kind: 'alt'; subs: Node[]; height: number };

interface Frame {
  /** Capture index, 0 for a non-capturing group, -1 for the outermost level (no parenthesis). */
  cap: number;
  flags: number;
  alts: Node[];
  items: Node[];
  sawBar: boolean;
}

function children(n: Node): readonly Node[] {
  switch (n.kind) {
    case 'capture':
    case 'repeat':
      return [n.sub];
    case 'concat':
    case 'alt':
      return n.subs;
    default:
      return [];
  }
}

/** Go's repeatIsValid: a counted repeat may not nest other counted repeats to a product above 1000 ({0} exempts its body). */
function repeatIsValid(n: Node, limit: number): boolean {
  let budget = limit;
  if (n.kind === 'repeat' && n.op === '{') {
    let m = n.max;
    if (m === 0) return true;
    if (m < 0) m = n.min;
    if (m > budget) return false;
    if (m > 0) budget = Math.trunc(budget / m);
  }
  for (const c of children(n)) if (!repeatIsValid(c, budget)) return false;
  return true;
}

function countCaptures(n: Node): number {
  let k = n.kind === 'capture' ? 1 : 0;
  for (const c of children(n)) k += countCaptures(c);
  return k;
}

const isAsciiAlnum = (c: number): boolean => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
const isOctal = (c: number): boolean => c >= 0x30 && c <= 0x37;
function unhex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** Canonical, node-re2-proof spelling of one literal rune outside a class. */
function emitRune(r: number): string {
  if (isAsciiAlnum(r) || r === 0x5f) return String.fromCharCode(r);
  if (r > 0x20 && r < 0x7f) return `\\${String.fromCharCode(r)}`;
  return `\\x{${r.toString(16)}}`;
}
/** Inside a class everything but letters and digits is written as \x{..} so `]`, `-`, `^`, `[`, `(?<` can never be misread. */
function emitClassRune(r: number): string {
  return isAsciiAlnum(r) ? String.fromCharCode(r) : `\\x{${r.toString(16)}}`;
}

const PREC_ATOM = 0;
const PREC_REPEAT = 1;
const PREC_CONCAT = 2;
const PREC_ALT = 3;
interface Emitted {
  s: string;
  prec: number;
}

/** An alternative Go can never match: an empty class. Used for `x{0}` (see emit). */
const NEVER = '[^\\x00-\\x{10ffff}]';

function emit(n: Node): Emitted {
  switch (n.kind) {
    case 'lit': {
      const body = n.runes.map(emitRune).join('');
      if (n.fold) return { s: `(?i:${body})`, prec: PREC_ATOM };
      return { s: body, prec: n.runes.length === 1 ? PREC_ATOM : PREC_CONCAT };
    }
    case 'leaf':
      return { s: n.text, prec: PREC_ATOM };
    case 'empty':
      return { s: '(?:)', prec: PREC_ATOM };
    case 'capture':
      return { s: `(${emit(n.sub).s})`, prec: PREC_ATOM };
    case 'repeat': {
      if (n.op === '{' && n.max === 0) {
        // x{0} matches the empty string and never sets x's groups. Go's repeat-size check skips its
        // body but RE2's does not (it rejects `(?:(?:a{2}){0}){1000}`, which Go accepts), so keep
        // only x's groups, behind an alternative that can never match.
        return { s: `(?:${NEVER}${'()'.repeat(countCaptures(n.sub))})?`, prec: PREC_REPEAT };
      }
      const sub = emit(n.sub);
      const base = sub.prec === PREC_ATOM ? sub.s : `(?:${sub.s})`;
      let op: string = n.op;
      if (n.op === '{') op = n.max === n.min ? `{${n.min}}` : n.max < 0 ? `{${n.min},}` : `{${n.min},${n.max}}`;
      return { s: `${base}${op}${n.lazy ? '?' : ''}`, prec: PREC_REPEAT };
    }
    case 'concat':
      return {
        s: n.subs
          .map((c) => {
            const e = emit(c);
            return e.prec === PREC_ALT ? `(?:${e.s})` : e.s;
          })
          .join(''),
        prec: PREC_CONCAT,
      };
    case 'alt':
      return { s: n.subs.map((c) => emit(c).s).join('|'), prec: PREC_ALT };
  }
}

// ---------------------------------------------------------------------------------------------
// The parser: a transcription of the behaviour of Go 1.19's regexp/syntax.parse for the flags
// regexp.Compile uses (Perl), over the wrapped text.

interface Parsed {
  pattern: string;
  groupCount: number;
  groupNames: (string | undefined)[];
}

class GoParser {
  private readonly w: string;
  private pos = 0;
  private readonly frames: Frame[];
  private numCap = 0;
  private readonly names: (string | undefined)[] = [undefined];

  constructor(wrapped: string) {
    this.w = wrapped;
    this.frames = [{ cap: -1, flags: 0, alts: [], items: [], sawBar: false }];
  }

  private get frame(): Frame {
    return this.frames[this.frames.length - 1] as Frame;
  }

  /** Go's nextRune: one code point; a lone surrogate is what Go would see as invalid UTF-8. */
  private runeAt(i: number): { r: number; next: number } {
    if (i >= this.w.length) return { r: -1, next: i };
    const r = this.w.codePointAt(i) as number;
    if (r >= 0xd800 && r <= 0xdfff) throw syntaxError(E_INVALID_UTF8, this.w.slice(i));
    return { r, next: i + (r > 0xffff ? 2 : 1) };
  }

  private checkUtf8(from: number, to: number): void {
    for (let i = from; i < to; ) i = this.runeAt(i).next;
  }

  private checkHeight(n: Node): Node {
    if (n.height > MAX_HEIGHT) throw syntaxError(E_NESTING_DEPTH, this.w);
    return n;
  }

  /** Go's push: before pushing, merge the two topmost items when both are literals with the same case folding. */
  private push(n: Node): void {
    const items = this.frame.items;
    this.maybeConcat(items);
    items.push(n);
  }

  private maybeConcat(items: Node[]): void {
    const k = items.length;
    if (k < 2) return;
    const a = items[k - 2] as Node;
    const b = items[k - 1] as Node;
    if (a.kind === 'lit' && b.kind === 'lit' && a.fold === b.fold) {
      for (const r of b.runes) a.runes.push(r);
      items.pop();
    }
  }

  private concat(items: Node[]): Node {
    this.maybeConcat(items);
    if (items.length === 0) return { kind: 'empty', height: 1 };
    if (items.length === 1) return items[0] as Node;
    // Go hoists nested concatenations (a non-capturing group's sequence) into their parent.
    const subs: Node[] = [];
    for (const c of items) {
      if (c.kind === 'concat') for (const s of c.subs) subs.push(s);
      else subs.push(c);
    }
    let h = 0;
    for (const c of subs) h = Math.max(h, c.height);
    return this.checkHeight({ kind: 'concat', subs, height: h + 1 });
  }

  /** Closes the current frame's alternation (Go's concat + alternate), returning its node. */
  private finish(f: Frame): Node {
    const last = this.concat(f.items);
    if (!f.sawBar) return last;
    const subs: Node[] = [];
    for (const a of [...f.alts, last]) {
      if (a.kind === 'alt') for (const s of a.subs) subs.push(s);
      else subs.push(a);
    }
    // Go factors alternations; a run of single characters becomes one class (height 1).
    const allChars = subs.every((s) => (s.kind === 'lit' && s.runes.length === 1) || (s.kind === 'leaf' && s.oneChar));
    let h = 0;
    for (const s of subs) h = Math.max(h, s.height);
    return this.checkHeight({ kind: 'alt', subs, height: allChars ? 1 : h + 1 });
  }

  parse(): Parsed {
    const w = this.w;
    let lastRepeat = -1;
    while (this.pos < w.length) {
      let repeat = -1;
      const c = w.charCodeAt(this.pos);
      switch (c) {
        case 0x28: // (
          if (w.charCodeAt(this.pos + 1) === 0x3f) {
            this.parsePerlFlags();
          } else {
            this.numCap++;
            this.names.push(undefined);
            this.frames.push({ cap: this.numCap, flags: this.frame.flags, alts: [], items: [], sawBar: false });
            this.pos++;
          }
          break;
        case 0x7c: {
          // |
          const f = this.frame;
          f.alts.push(this.concat(f.items));
          f.items = [];
          f.sawBar = true;
          this.pos++;
          break;
        }
        case 0x29: {
          // )
          const f = this.frame;
          const node = this.finish(f);
          if (f.cap < 0) throw syntaxError(E_UNEXPECTED_PAREN, w);
          this.frames.pop();
          if (f.cap > 0) {
            this.push(this.checkHeight({ kind: 'capture', sub: node, height: node.height + 1 }));
          } else {
            this.push(node);
          }
          this.pos++;
          break;
        }
        case 0x5e: // ^
          this.push({ kind: 'leaf', text: this.frame.flags & F_MULTILINE ? '(?m:^)' : '^', oneChar: false, height: 1 });
          this.pos++;
          break;
        case 0x24: // $
          this.push({ kind: 'leaf', text: this.frame.flags & F_MULTILINE ? '(?m:$)' : '$', oneChar: false, height: 1 });
          this.pos++;
          break;
        case 0x2e: // .
          this.push({ kind: 'leaf', text: this.frame.flags & F_DOTNL ? '(?s:.)' : '.', oneChar: true, height: 1 });
          this.pos++;
          break;
        case 0x5b: // [
          this.parseClass();
          break;
        case 0x2a: // *
        case 0x2b: // +
        case 0x3f: {
          // ?
          const before = this.pos;
          const op = c === 0x2a ? '*' : c === 0x2b ? '+' : '?';
          this.pos = this.repeat(op, 0, 0, before, this.pos + 1, lastRepeat);
          repeat = before;
          break;
        }
        case 0x7b: {
          // {
          const before = this.pos;
          const rep = this.parseRepeat(this.pos);
          if (rep === undefined) {
            // Not a valid {n}, {n,} or {n,m}: a literal brace.
            this.literal(0x7b);
            this.pos++;
            break;
          }
          const { min, max, after } = rep;
          if (min < 0 || min > MAX_REPEAT || max > MAX_REPEAT || (max >= 0 && min > max)) {
            throw syntaxError(E_INVALID_REPEAT_SIZE, w.slice(before, after));
          }
          this.pos = this.repeat('{', min, max, before, after, lastRepeat);
          repeat = before;
          break;
        }
        case 0x5c: // backslash
          this.parseBackslash();
          break;
        default: {
          const { r, next } = this.runeAt(this.pos);
          this.literal(r);
          this.pos = next;
        }
      }
      lastRepeat = repeat;
    }

    const top = this.frame;
    const node = this.finish(top);
    if (this.frames.length !== 1) throw syntaxError(E_MISSING_PAREN, w);
    return { pattern: emit(node).s, groupCount: this.numCap, groupNames: this.names };
  }

  private literal(r: number): void {
    this.push({ kind: 'lit', runes: [r], fold: (this.frame.flags & F_FOLD) !== 0, height: 1 });
  }

  /** Go's repeat(): returns the position after the operator (and its lazy `?`). */
  private repeat(op: '*' | '+' | '?' | '{', min: number, max: number, before: number, afterOp: number, lastRepeat: number): number {
    let after = afterOp;
    let lazy = (this.frame.flags & F_UNGREEDY) !== 0;
    if (this.w.charCodeAt(after) === 0x3f) {
      after++;
      lazy = !lazy;
    }
    if (lastRepeat >= 0) throw syntaxError(E_INVALID_REPEAT_OP, this.w.slice(lastRepeat, after));
    const items = this.frame.items;
    const sub = items[items.length - 1];
    // The top of Go's stack is a marker (opening parenthesis or `|`) when this frame has no items yet.
    if (sub === undefined) throw syntaxError(E_MISSING_REPEAT_ARGUMENT, this.w.slice(before, after));
    const node = this.checkHeight({ kind: 'repeat', op, min, max, lazy, sub, height: sub.height + 1 });
    items[items.length - 1] = node;
    if (op === '{' && (min >= 2 || max >= 2) && !repeatIsValid(node, MAX_REPEAT)) {
      throw syntaxError(E_INVALID_REPEAT_SIZE, this.w.slice(before, after));
    }
    return after;
  }

  /** Go's parseRepeat: `{n}`, `{n,}`, `{n,m}` (no leading zeros); undefined when the brace is a literal. */
  private parseRepeat(start: number): { min: number; max: number; after: number } | undefined {
    const w = this.w;
    let i = start + 1;
    const a = this.parseInt(i);
    if (a === undefined) return undefined;
    let min = a.n;
    let max: number;
    i = a.next;
    if (i >= w.length) return undefined;
    if (w.charCodeAt(i) !== 0x2c) {
      max = min;
    } else {
      i++;
      if (i >= w.length) return undefined;
      if (w.charCodeAt(i) === 0x7d) {
        max = -1;
      } else {
        const b = this.parseInt(i);
        if (b === undefined) return undefined;
        max = b.n;
        i = b.next;
        // parseInt signals a number too large with -1; Go then poisons min so the count is refused.
        if (max < 0) min = -1;
      }
    }
    if (i >= w.length || w.charCodeAt(i) !== 0x7d) return undefined;
    return { min, max, after: i + 1 };
  }

  private parseInt(start: number): { n: number; next: number } | undefined {
    const w = this.w;
    const isDigit = (k: number): boolean => {
      const c = w.charCodeAt(k);
      return c >= 0x30 && c <= 0x39;
    };
    if (!isDigit(start)) return undefined;
    if (w.charCodeAt(start) === 0x30 && isDigit(start + 1)) return undefined;
    let i = start;
    while (isDigit(i)) i++;
    let n = 0;
    for (let k = start; k < i; k++) {
      if (n >= 1e8) {
        n = -1;
        break;
      }
      n = n * 10 + (w.charCodeAt(k) - 0x30);
    }
    return { n, next: i };
  }

  /** `(?` : named group `(?P<name>`, flags `(?i-s)`, or a flagged non-capturing group `(?i:`. */
  private parsePerlFlags(): void {
    const w = this.w;
    const start = this.pos;
    if (w.length - start > 4 && w.charCodeAt(start + 2) === 0x50 && w.charCodeAt(start + 3) === 0x3c) {
      // (?P<name>
      const end = w.indexOf('>', start);
      if (end < 0) {
        this.checkUtf8(start, w.length);
        throw syntaxError(E_INVALID_NAMED_CAPTURE, w.slice(start));
      }
      const name = w.slice(start + 4, end);
      this.checkUtf8(start + 4, end);
      if (!/^[A-Za-z0-9_]+$/.test(name)) throw syntaxError(E_INVALID_NAMED_CAPTURE, w.slice(start, end + 1));
      this.numCap++;
      this.names.push(name);
      this.frames.push({ cap: this.numCap, flags: this.frame.flags, alts: [], items: [], sawBar: false });
      this.pos = end + 1;
      return;
    }
    let t = start + 2;
    let flags = this.frame.flags;
    let negate = false;
    let sawFlag = false;
    while (t < w.length) {
      const { r, next } = this.runeAt(t);
      t = next;
      let bit = 0;
      if (r === 0x69) bit = F_FOLD;
      else if (r === 0x6d) bit = F_MULTILINE;
      else if (r === 0x73) bit = F_DOTNL;
      else if (r === 0x55) bit = F_UNGREEDY;
      if (bit !== 0) {
        flags = negate ? flags & ~bit : flags | bit;
        sawFlag = true;
        continue;
      }
      if (r === 0x2d) {
        // -
        if (negate) break;
        negate = true;
        sawFlag = false;
        continue;
      }
      if (r === 0x3a || r === 0x29) {
        // : or )
        if (negate && !sawFlag) break;
        if (r === 0x3a) {
          this.frames.push({ cap: 0, flags, alts: [], items: [], sawBar: false });
        } else {
          this.frame.flags = flags;
        }
        this.pos = t;
        return;
      }
      break;
    }
    throw syntaxError(E_INVALID_PERL_OP, w.slice(start, t));
  }

  private parseBackslash(): void {
    const w = this.w;
    const start = this.pos;
    const flags = this.frame.flags;
    const fold = (s: string): string => (flags & F_FOLD ? `(?i:${s})` : s);
    if (w.length - start >= 2) {
      const c1 = w.charCodeAt(start + 1);
      switch (c1) {
        case 0x41: // \A
          this.push({ kind: 'leaf', text: '\\A', oneChar: false, height: 1 });
          this.pos += 2;
          return;
        case 0x62: // \b
          this.push({ kind: 'leaf', text: '\\b', oneChar: false, height: 1 });
          this.pos += 2;
          return;
        case 0x42: // \B
          this.push({ kind: 'leaf', text: '\\B', oneChar: false, height: 1 });
          this.pos += 2;
          return;
        case 0x43: // \C: any byte, which Go does not support
          throw syntaxError(E_INVALID_ESCAPE, w.slice(start, start + 2));
        case 0x51: {
          // \Q...\E: literal text; without \E it runs to the end (swallowing the wrapper's `)$`).
          const end = w.indexOf('\\E', start + 2);
          const stop = end < 0 ? w.length : end;
          for (let i = start + 2; i < stop; ) {
            const { r, next } = this.runeAt(i);
            this.literal(r);
            i = next;
          }
          this.pos = end < 0 ? w.length : end + 2;
          return;
        }
        case 0x7a: // \z
          this.push({ kind: 'leaf', text: '\\z', oneChar: false, height: 1 });
          this.pos += 2;
          return;
      }
      if (c1 === 0x70 || c1 === 0x50) {
        const u = this.parseUnicodeClass(start);
        if (u !== undefined) {
          this.push({ kind: 'leaf', text: fold(u.text), oneChar: true, height: 1 });
          this.pos = u.next;
          return;
        }
      }
      if (PERL_CLASSES.has(w[start + 1] as string)) {
        this.push({ kind: 'leaf', text: fold(w.slice(start, start + 2)), oneChar: true, height: 1 });
        this.pos += 2;
        return;
      }
    }
    const { r, next } = this.parseEscape(start);
    this.literal(r);
    this.pos = next;
  }

  /** Go's parseEscape: one escaped rune (outside or inside a class). */
  private parseEscape(start: number): { r: number; next: number } {
    const w = this.w;
    let t = start + 1;
    if (t >= w.length) throw syntaxError(E_TRAILING_BACKSLASH, '');
    const first = this.runeAt(t);
    const c = first.r;
    t = first.next;
    const bad = (): RegexSyntaxError => syntaxError(E_INVALID_ESCAPE, w.slice(start, t));
    if (c >= 0x31 && c <= 0x37) {
      // \1-\7 alone would be a backreference; only an octal number (2-3 digits) is accepted.
      if (!isOctal(w.charCodeAt(t))) throw bad();
    }
    if (c >= 0x30 && c <= 0x37) {
      let r = c - 0x30;
      for (let k = 1; k < 3 && isOctal(w.charCodeAt(t)); k++) {
        r = r * 8 + (w.charCodeAt(t) - 0x30);
        t++;
      }
      return { r, next: t };
    }
    switch (c) {
      case 0x78: {
        // \x
        if (t >= w.length) throw bad();
        const a = this.runeAt(t);
        t = a.next;
        if (a.r === 0x7b) {
          let nhex = 0;
          let r = 0;
          for (;;) {
            if (t >= w.length) throw bad();
            const d = this.runeAt(t);
            t = d.next;
            if (d.r === 0x7d) break;
            const v = unhex(d.r);
            if (v < 0) throw bad();
            r = r * 16 + v;
            if (r > 0x10ffff) throw bad();
            nhex++;
          }
          if (nhex === 0) throw bad();
          return { r, next: t };
        }
        const x = unhex(a.r);
        const b = this.runeAt(t);
        t = b.next;
        const y = unhex(b.r);
        if (x < 0 || y < 0) throw bad();
        return { r: x * 16 + y, next: t };
      }
      case 0x61:
        return { r: 0x07, next: t };
      case 0x66:
        return { r: 0x0c, next: t };
      case 0x6e:
        return { r: 0x0a, next: t };
      case 0x72:
        return { r: 0x0d, next: t };
      case 0x74:
        return { r: 0x09, next: t };
      case 0x76:
        return { r: 0x0b, next: t };
    }
    // Escaped ASCII punctuation (and space, controls) is itself; letters, digits 8-9 and anything
    // non-ASCII are errors.
    if (c < 0x80 && !isAsciiAlnum(c)) return { r: c, next: t };
    throw bad();
  }

  /** Go's parseUnicodeClass at `\p`/`\P`: the canonical class text, or undefined when not one. */
  private parseUnicodeClass(start: number): { text: string; next: number } | undefined {
    const w = this.w;
    let negated = w.charCodeAt(start + 1) === 0x50;
    const first = this.runeAt(start + 2);
    let seq: string;
    let name: string;
    let next: number;
    if (first.r !== 0x7b) {
      // Single-letter name such as \pL (whatever rune follows is the name).
      next = first.next;
      seq = w.slice(start, next);
      name = w.slice(start + 2, next);
    } else {
      const end = w.indexOf('}', start);
      if (end < 0) {
        this.checkUtf8(start, w.length);
        throw syntaxError(E_INVALID_CHAR_RANGE, w.slice(start));
      }
      next = end + 1;
      seq = w.slice(start, next);
      name = w.slice(start + 3, end);
      this.checkUtf8(start + 3, end);
    }
    if (name.startsWith('^')) {
      negated = !negated;
      name = name.slice(1);
    }
    if (!UNICODE_NAMES.has(name)) throw syntaxError(E_INVALID_CHAR_RANGE, seq);
    return { text: `\\${negated ? 'P' : 'p'}{${name}}`, next };
  }

  /** Go's parseClass from `[`; pushes the class. */
  private parseClass(): void {
    const w = this.w;
    const whole = this.pos;
    let t = whole + 1;
    const parts: string[] = [];
    let negated = false;
    if (w.charCodeAt(t) === 0x5e) {
      negated = true;
      t++;
    }
    let first = true;
    while (t >= w.length || w.charCodeAt(t) !== 0x5d || first) {
      first = false;
      // POSIX [:alpha:]: Go looks for the closing `:]` anywhere in the rest of the pattern.
      if (w.length - t > 2 && w.charCodeAt(t) === 0x5b && w.charCodeAt(t + 1) === 0x3a) {
        const close = w.indexOf(':]', t + 2);
        if (close >= 0) {
          const name = w.slice(t, close + 2);
          if (!POSIX_NAMES.has(name)) throw syntaxError(E_INVALID_CHAR_RANGE, name);
          parts.push(name);
          t = close + 2;
          continue;
        }
      }
      if (w.charCodeAt(t) === 0x5c && t + 1 < w.length) {
        const c1 = w.charCodeAt(t + 1);
        if (c1 === 0x70 || c1 === 0x50) {
          const u = this.parseUnicodeClass(t);
          if (u !== undefined) {
            parts.push(u.text);
            t = u.next;
            continue;
          }
        }
        if (PERL_CLASSES.has(w[t + 1] as string)) {
          parts.push(w.slice(t, t + 2));
          t += 2;
          continue;
        }
      }
      const rangeStart = t;
      const lo = this.parseClassChar(t, whole);
      t = lo.next;
      let hi = lo.r;
      // [a-] means a or -, so a range needs something other than `]` after the dash.
      if (w.length - t >= 2 && w.charCodeAt(t) === 0x2d && w.charCodeAt(t + 1) !== 0x5d) {
        const h = this.parseClassChar(t + 1, whole);
        t = h.next;
        hi = h.r;
        if (hi < lo.r) throw syntaxError(E_INVALID_CHAR_RANGE, w.slice(rangeStart, t));
      }
      parts.push(hi === lo.r ? emitClassRune(lo.r) : `${emitClassRune(lo.r)}-${emitClassRune(hi)}`);
    }
    this.pos = t + 1;
    const body = `[${negated ? '^' : ''}${parts.join('')}]`;
    this.push({ kind: 'leaf', text: this.frame.flags & F_FOLD ? `(?i:${body})` : body, oneChar: true, height: 1 });
  }

  private parseClassChar(t: number, whole: number): { r: number; next: number } {
    if (t >= this.w.length) throw syntaxError(E_MISSING_BRACKET, this.w.slice(whole));
    if (this.w.charCodeAt(t) === 0x5c) return this.parseEscape(t);
    return this.runeAt(t);
  }
}

// ---------------------------------------------------------------------------------------------
// Fast paths: shapes whose anchored match needs no regex engine at all.

type FastPath =
  | { kind: 'equal'; literal: string }
  | { kind: 'set'; literals: ReadonlySet<string> }
  /** prefix `.*` suffix, or prefix `(.*)` suffix when `capture`: `.` excludes only `\n`. */
  | { kind: 'wild'; prefix: string; suffix: string; capture: boolean };

/**
 * Splits a source into literal runs and the few metacharacter tokens the fast shapes use, or
 * returns undefined at anything else. Literal: any character but `\ . + * ? ( ) | [ { ^ $`, or a
 * backslash before ASCII punctuation (Go: escaped non-word ASCII is itself).
 */
function fastTokens(source: string): (string | { meta: string })[] | undefined {
  const out: (string | { meta: string })[] = [];
  let lit = '';
  const flush = (): void => {
    out.push(lit);
    lit = '';
  };
  for (let i = 0; i < source.length; i++) {
    const ch = source[i] as string;
    const c = source.charCodeAt(i);
    if (ch === '\\') {
      const n = source.charCodeAt(i + 1);
      if (!(n < 0x80 && !isAsciiAlnum(n))) return undefined;
      lit += source[i + 1];
      i++;
    } else if (ch === '|') {
      flush();
      out.push({ meta: '|' });
    } else if (source.startsWith('(.*)', i)) {
      flush();
      out.push({ meta: '(.*)' });
      i += 3;
    } else if (source.startsWith('.*', i) && source[i + 2] !== '?') {
      flush();
      out.push({ meta: '.*' });
      i += 1;
    } else if ('.+*?()[{^$'.includes(ch)) {
      return undefined;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      return undefined; // leave surrogates (pairs or not) to the full path
    } else {
      lit += ch;
    }
  }
  flush();
  return out;
}

function detectFastPath(source: string): FastPath | undefined {
  const tokens = fastTokens(source);
  if (tokens === undefined) return undefined;
  const metas = tokens.filter((t) => typeof t !== 'string') as { meta: string }[];
  const lits = tokens.filter((t) => typeof t === 'string') as string[];
  if (metas.length === 0) return { kind: 'equal', literal: lits[0] ?? '' };
  if (metas.every((m) => m.meta === '|')) return { kind: 'set', literals: new Set(lits) };
  if (metas.length === 1 && tokens.length === 3) {
    const [prefix, m, suffix] = tokens as [string, { meta: string }, string];
    if (m.meta === '.*' || m.meta === '(.*)') return { kind: 'wild', prefix, suffix, capture: m.meta === '(.*)' };
  }
  return undefined;
}

/** RE2's own refusals that survive our Go-exact parse: its program-size budget is smaller than Go's. */
function re2Refusal(wrapped: string, err: unknown): RegexSyntaxError {
  const msg = err instanceof Error ? err.message : String(err);
  if (/too large/i.test(msg)) {
    return new RegexSyntaxError(
      `error parsing regexp: ${E_LARGE}: \`${wrapped}\` (RE2, the engine tributary matches with, cannot compile it within its memory budget; Prometheus may accept it)`,
    );
  }
  // Our canonical pattern is built to be valid RE2; reaching this is a tributary bug, and says so.
  return new RegexSyntaxError(`error parsing regexp: ${msg} (RE2 refused tributary's translation; this is a tributary bug): \`${wrapped}\``);
}

export class RelabelRegex {
  /** The regex as written in the config. */
  readonly source: string;
  /** Number of capture groups (group 0, the whole match, not counted). */
  readonly groupCount: number;
  /** groupNames[i]: the name of capture group i (index 0 unused/undefined), or undefined for unnamed groups. Names may repeat and may start with a digit, as in Go. */
  readonly groupNames: readonly (string | undefined)[];
  /** True for the default regex `(.*)`. */
  readonly isDefault: boolean;
  private readonly re2: RE2 | undefined;
  private readonly fast: FastPath | undefined;

  private constructor(source: string, parsed: Parsed, re2: RE2 | undefined, fast: FastPath | undefined) {
    this.source = source;
    this.groupCount = parsed.groupCount;
    this.groupNames = Object.freeze(parsed.groupNames);
    this.isDefault = source === '(.*)';
    this.re2 = re2;
    this.fast = fast;
  }

  /** Compile as Prometheus 2.42 does: the text `^(?:` + source + `)$` (textual wrapping, so `foo)|(bar` means what it means in Prometheus). Throws RegexSyntaxError. */
  static compile(source: string): RelabelRegex {
    const wrapped = `^(?:${source})$`;
    const parsed = new GoParser(wrapped).parse();
    const fast = detectFastPath(source);
    let re2: RE2 | undefined;
    try {
      re2 = new RE2(parsed.pattern, 'u');
    } catch (err) {
      // A fast path does not need RE2, so a pattern only RE2 finds too large still works there.
      if (fast === undefined) throw re2Refusal(wrapped, err);
    }
    return new RelabelRegex(source, parsed, re2, fast);
  }

  /** Whole-string (anchored) match. */
  matches(text: string): boolean {
    const f = this.fast;
    if (f !== undefined) {
      switch (f.kind) {
        case 'equal':
          return text === f.literal;
        case 'set':
          return f.literals.has(text);
        case 'wild':
          return wildMiddle(f, text) !== undefined;
      }
    }
    return (this.re2 as RE2).test(text);
  }

  /** Anchored match: [whole, g1, ..., gN], undefined for a group that did not participate; null when no match. */
  match(text: string): (string | undefined)[] | null {
    const f = this.fast;
    if (f !== undefined) {
      switch (f.kind) {
        case 'equal':
          return text === f.literal ? [text] : null;
        case 'set':
          return f.literals.has(text) ? [text] : null;
        case 'wild': {
          const middle = wildMiddle(f, text);
          if (middle === undefined) return null;
          return f.capture ? [text, middle] : [text];
        }
      }
    }
    const m = (this.re2 as RE2).exec(text);
    // A plain array: the exec result also carries index/input/groups, which callers should not see.
    return m === null ? null : m.slice();
  }
}

/** The part of `text` matched by `.*` in prefix.*suffix, or undefined when it does not match. */
function wildMiddle(f: { prefix: string; suffix: string }, text: string): string | undefined {
  const end = text.length - f.suffix.length;
  if (end < f.prefix.length || !text.startsWith(f.prefix) || !text.endsWith(f.suffix)) return undefined;
  const nl = text.indexOf('\n', f.prefix.length);
  if (nl >= 0 && nl < end) return undefined;
  return text.slice(f.prefix.length, end);
}
