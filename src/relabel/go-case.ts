// Go's strings.ToLower/ToUpper map each code point with unicode.ToLower/ToUpper: the simple
// mappings of UnicodeData.txt, in the Unicode version of the Go release. Prometheus 2.42 is built
// with Go 1.19, i.e. Unicode 13.0.0. JavaScript's toLowerCase/toUpperCase differ in three ways:
//  1. full mappings from SpecialCasing.txt, which expand some code points to several (ß -> SS);
//  2. the context-sensitive final sigma when lowercasing a whole string (ΟΔΟΣ -> οδος);
//  3. case pairs added after Unicode 13 (Node 20's ICU is much newer).
// Outside the code points listed below, a JS mapping of a whole string equals Go's per-code-point
// one, so only strings containing one of them take the slow path.

type Range = readonly [first: number, last: number];

// JS would change these; Go leaves them as they are.
const UPPER_UNCHANGED: readonly Range[] = [
  // SpecialCasing expansions whose simple uppercase is the code point itself.
  [0x00df, 0x00df],
  [0x0149, 0x0149],
  [0x01f0, 0x01f0],
  [0x0390, 0x0390],
  [0x03b0, 0x03b0],
  [0x0587, 0x0587],
  [0x1e96, 0x1e9a],
  [0x1f50, 0x1f50],
  [0x1f52, 0x1f52],
  [0x1f54, 0x1f54],
  [0x1f56, 0x1f56],
  [0x1f88, 0x1f8f],
  [0x1f98, 0x1f9f],
  [0x1fa8, 0x1faf],
  [0x1fb2, 0x1fb2],
  [0x1fb4, 0x1fb4],
  [0x1fb6, 0x1fb7],
  [0x1fbc, 0x1fbc],
  [0x1fc2, 0x1fc2],
  [0x1fc4, 0x1fc4],
  [0x1fc6, 0x1fc7],
  [0x1fcc, 0x1fcc],
  [0x1fd2, 0x1fd3],
  [0x1fd6, 0x1fd7],
  [0x1fe2, 0x1fe4],
  [0x1fe6, 0x1fe7],
  [0x1ff2, 0x1ff2],
  [0x1ff4, 0x1ff4],
  [0x1ff6, 0x1ff7],
  [0x1ffc, 0x1ffc],
  [0xfb00, 0xfb06],
  [0xfb13, 0xfb17],
  // Uppercase mappings added in Unicode 14-17 (ƛ and ɤ are old letters that gained new capitals).
  [0x019b, 0x019b],
  [0x0264, 0x0264],
  [0x1c8a, 0x1c8a],
  [0x2c5f, 0x2c5f],
  [0xa7c1, 0xa7c1],
  [0xa7cd, 0xa7cd],
  [0xa7cf, 0xa7cf],
  [0xa7d1, 0xa7d1],
  [0xa7d3, 0xa7d3],
  [0xa7d5, 0xa7d5],
  [0xa7d7, 0xa7d7],
  [0xa7d9, 0xa7d9],
  [0xa7db, 0xa7db],
  [0x10597, 0x105bc], // Vithkuqi small letters
  [0x10d70, 0x10d85], // Garay small letters
  [0x16ebb, 0x16ed3], // Beria Erfe small letters
];

// SpecialCasing expansions whose simple uppercase is another single code point:
// Greek letters with ypogegrammeni map to the precomposed capital with prosgegrammeni.
const UPPER_SIMPLE: readonly (readonly [first: number, last: number, to: number])[] = [
  [0x1f80, 0x1f87, 0x1f88],
  [0x1f90, 0x1f97, 0x1f98],
  [0x1fa0, 0x1fa7, 0x1fa8],
  [0x1fb3, 0x1fb3, 0x1fbc],
  [0x1fc3, 0x1fc3, 0x1fcc],
  [0x1ff3, 0x1ff3, 0x1ffc],
];

const LOWER_UNCHANGED: readonly Range[] = [
  // Lowercase mappings added in Unicode 14-17.
  [0x1c89, 0x1c89],
  [0x2c2f, 0x2c2f],
  [0xa7c0, 0xa7c0],
  [0xa7cb, 0xa7cc],
  [0xa7ce, 0xa7ce],
  [0xa7d0, 0xa7d0],
  [0xa7d2, 0xa7d2],
  [0xa7d4, 0xa7d4],
  [0xa7d6, 0xa7d6],
  [0xa7d8, 0xa7d8],
  [0xa7da, 0xa7da],
  [0xa7dc, 0xa7dc],
  [0x10570, 0x10595], // Vithkuqi capital letters
  [0x10d50, 0x10d65], // Garay capital letters
  [0x16ea0, 0x16eb8], // Beria Erfe capital letters
];

const LOWER_SIMPLE: readonly (readonly [first: number, last: number, to: number])[] = [
  [0x0130, 0x0130, 0x0069], // İ: full mapping is i + U+0307
  [0x03a3, 0x03a3, 0x03c3], // Σ: always σ, never the final ς
];

interface Direction {
  /** Matches any code point where a whole-string JS mapping may differ from Go. */
  readonly special: RegExp;
  /** Go's result for each such code point. */
  readonly table: ReadonlyMap<number, string>;
}

function direction(unchanged: readonly Range[], simple: readonly (readonly [number, number, number])[]): Direction {
  const table = new Map<number, string>();
  for (const [first, last] of unchanged) {
    for (let cp = first; cp <= last; cp++) table.set(cp, String.fromCodePoint(cp));
  }
  for (const [first, last, to] of simple) {
    for (let cp = first; cp <= last; cp++) table.set(cp, String.fromCodePoint(to + cp - first));
  }
  const hex = (cp: number): string => `\\u{${cp.toString(16)}}`;
  const ranges = [...unchanged, ...simple].map(([first, last]) => (first === last ? hex(first) : `${hex(first)}-${hex(last)}`));
  return { special: new RegExp(`[${ranges.join('')}]`, 'u'), table };
}

const UPPER = direction(UPPER_UNCHANGED, UPPER_SIMPLE);
const LOWER = direction(LOWER_UNCHANGED, LOWER_SIMPLE);
const SPECIAL_UPPER_G = new RegExp(UPPER.special.source, 'gu');
const SPECIAL_LOWER_G = new RegExp(LOWER.special.source, 'gu');

function slowPath(text: string, dir: Direction, all: RegExp, map: (s: string) => string): string {
  // Map the stretches between special code points with JS (context-free there), the specials by table.
  let out = '';
  let last = 0;
  all.lastIndex = 0;
  for (let m = all.exec(text); m !== null; m = all.exec(text)) {
    const special = m[0];
    out += map(text.slice(last, m.index)) + (dir.table.get(special.codePointAt(0) ?? 0) ?? special);
    last = all.lastIndex;
  }
  return out + map(text.slice(last));
}

// Cheaper to scan for than the special sets, and label values are nearly always ASCII.
const NON_ASCII = /[\u0080-\uffff]/;

const toLower = (s: string): string => s.toLowerCase();
const toUpper = (s: string): string => s.toUpperCase();

/** Go strings.ToLower: per code point, simple Unicode mappings (not JS's full, context-sensitive ones). */
export function goToLower(text: string): string {
  if (!NON_ASCII.test(text) || !LOWER.special.test(text)) return text.toLowerCase();
  return slowPath(text, LOWER, SPECIAL_LOWER_G, toLower);
}

/** Go strings.ToUpper: per code point, simple Unicode mappings (not JS's full, context-sensitive ones). */
export function goToUpper(text: string): string {
  if (!NON_ASCII.test(text) || !UPPER.special.test(text)) return text.toUpperCase();
  return slowPath(text, UPPER, SPECIAL_UPPER_G, toUpper);
}
