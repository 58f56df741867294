import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { goToLower, goToUpper } from '../../src/relabel/go-case.js';

const cp = (...cps: number[]): string => String.fromCodePoint(...cps);

describe('goToUpper', () => {
  const cases: { name: string; input: string; want: string }[] = [
    // Verified against the Prometheus 2.42 binary (facts §5.2).
    { name: 'ß stays (JS: SS)', input: 'straße', want: 'STRAßE' },
    { name: 'ASCII', input: 'Foo_bar-9', want: 'FOO_BAR-9' },
    { name: 'empty', input: '', want: '' },
    { name: 'Latin-1 and Greek', input: 'éàçσςμ', want: 'ÉÀÇΣΣΜ' },
    { name: 'dotless i', input: 'ı', want: 'I' },
    { name: 'ŉ stays (JS: ʼN)', input: 'ŉ', want: 'ŉ' },
    { name: 'ǰ stays', input: 'ǰ', want: 'ǰ' },
    { name: 'ΐ and ΰ stay', input: 'ΐΰ', want: 'ΐΰ' },
    { name: 'Armenian և stays', input: 'և', want: 'և' },
    { name: 'ẖẗẘẙẚ stay', input: 'ẖẗẘẙẚ', want: 'ẖẗẘẙẚ' },
    { name: 'ligatures stay', input: 'ﬀﬁﬂﬃﬄﬅﬆ', want: 'ﬀﬁﬂﬃﬄﬅﬆ' },
    { name: 'Armenian ligatures stay', input: 'ﬓﬔﬕﬖﬗ', want: 'ﬓﬔﬕﬖﬗ' },
    { name: 'ᾳ -> ᾼ (JS: ΑΙ)', input: 'ᾳ', want: 'ᾼ' },
    { name: 'ῃ -> ῌ', input: 'ῃ', want: 'ῌ' },
    { name: 'ῳ -> ῼ', input: 'ῳ', want: 'ῼ' },
    { name: 'ᾀ..ᾇ -> ᾈ..ᾏ', input: cp(0x1f80, 0x1f87), want: cp(0x1f88, 0x1f8f) },
    { name: 'ᾐ..ᾗ -> ᾘ..ᾟ', input: cp(0x1f90, 0x1f97), want: cp(0x1f98, 0x1f9f) },
    { name: 'ᾠ..ᾧ -> ᾨ..ᾯ', input: cp(0x1fa0, 0x1fa7), want: cp(0x1fa8, 0x1faf) },
    { name: 'titlecase ᾈ stays', input: 'ᾈᾼῌῼ', want: 'ᾈᾼῌῼ' },
    { name: 'ᾲ ᾴ ᾶ ᾷ stay', input: 'ᾲᾴᾶᾷ', want: 'ᾲᾴᾶᾷ' },
    { name: 'ὐ ῤ ῦ stay', input: 'ὐῤῦ', want: 'ὐῤῦ' },
    { name: 'ypogegrammeni U+0345 -> Ι', input: '\u0345', want: 'Ι' },
    { name: 'titlecase ǅ -> Ǆ', input: 'ǅǆ', want: 'ǄǄ' },
    { name: 'ẞ capital sharp s stays capital', input: 'ẞ', want: 'ẞ' },
    { name: 'astral Deseret', input: cp(0x10428), want: cp(0x10400) },
    { name: 'Georgian Mkhedruli -> Mtavruli (Unicode 11)', input: 'ა', want: 'Ა' },
    // Case pairs newer than Go 1.19's Unicode 13 are not mapped.
    { name: 'ƛ stays (capital added in Unicode 16)', input: 'ƛ', want: 'ƛ' },
    { name: 'ɤ stays (capital added in Unicode 16)', input: 'ɤ', want: 'ɤ' },
    { name: 'Vithkuqi small stays (Unicode 14)', input: cp(0x10597), want: cp(0x10597) },
    { name: 'Glagolitic caudate chrivi small stays (Unicode 14)', input: cp(0x2c5f), want: cp(0x2c5f) },
    { name: 'lone surrogates stay', input: 'a\ud800b\udc00', want: 'A\ud800B\udc00' },
    { name: 'mixed specials and text', input: 'straße ᾳ ﬁx ábc ƛ', want: 'STRAßE ᾼ ﬁX ÁBC ƛ' },
    { name: 'special at both ends', input: 'ßaß', want: 'ßAß' },
  ];
  it.each(cases)('$name', ({ input, want }) => {
    expect(goToUpper(input)).toBe(want);
  });
});

describe('goToLower', () => {
  const cases: { name: string; input: string; want: string }[] = [
    // Verified against the Prometheus 2.42 binary (facts §5.2).
    { name: 'İ -> i (JS: i + U+0307)', input: 'İSTANBUL', want: 'istanbul' },
    { name: 'no final sigma (JS: ς)', input: 'ΟΔΟΣ', want: 'οδοσ' },
    { name: 'ASCII', input: 'Foo_BAR-9', want: 'foo_bar-9' },
    { name: 'empty', input: '', want: '' },
    { name: 'Σ before a space', input: 'ΑΣ Β', want: 'ασ β' },
    { name: 'ς stays', input: 'ς', want: 'ς' },
    { name: 'ẞ -> ß', input: 'ẞ', want: 'ß' },
    { name: 'K Kelvin sign -> k', input: '\u212a', want: 'k' },
    { name: 'titlecase ǅ -> ǆ', input: 'ǄǅǆT', want: 'ǆǆǆt' },
    { name: 'ᾈ -> ᾀ', input: 'ᾈᾼ', want: 'ᾀᾳ' },
    { name: 'astral Deseret', input: cp(0x10400), want: cp(0x10428) },
    { name: 'Cherokee capital -> small', input: cp(0x13a0), want: cp(0xab70) },
    // Case pairs newer than Unicode 13.
    { name: 'Vithkuqi capital stays (Unicode 14)', input: cp(0x10570), want: cp(0x10570) },
    { name: 'Ɤ capital stays (Unicode 16)', input: cp(0xa7cb), want: cp(0xa7cb) },
    { name: 'Glagolitic caudate chrivi stays (Unicode 14)', input: cp(0x2c2f), want: cp(0x2c2f) },
    { name: 'lone surrogates stay', input: 'A\udbffB', want: 'a\udbffb' },
    { name: 'mixed specials and text', input: 'İÇİN ΣΟΦΟΣ ÄB', want: 'için σοφοσ äb' },
  ];
  it.each(cases)('$name', ({ input, want }) => {
    expect(goToLower(input)).toBe(want);
  });
});

/**
 * Every code point's mapping, as `cp>target` lines in hex, hashed. The expected digests were
 * computed from the Unicode 14 UnicodeData.txt simple mappings (Perl's Unicode::UCD), keeping only
 * mappings whose source and target were both assigned by Unicode 13.0 (Go 1.19's tables). A newer
 * Node ICU with new case pairs makes this fail: add those code points to the *_UNCHANGED lists.
 */
function mappingDigest(map: (s: string) => string): { count: number; digest: string } {
  const hash = createHash('sha256');
  let count = 0;
  for (let c = 0; c <= 0x10ffff; c++) {
    if (c >= 0xd800 && c <= 0xdfff) continue;
    const input = String.fromCodePoint(c);
    const out = map(input);
    if (out === input) continue;
    const outCp = out.codePointAt(0) ?? -1;
    if (String.fromCodePoint(outCp) !== out) throw new Error(`U+${c.toString(16)} maps to several code points`);
    hash.update(`${c.toString(16)}>${outCp.toString(16)}\n`);
    count++;
  }
  return { count, digest: hash.digest('hex') };
}

describe('whole Unicode range', () => {
  it('goToUpper equals the Unicode 13 simple uppercase mapping for every code point', () => {
    expect(mappingDigest(goToUpper)).toEqual({
      count: 1410,
      digest: 'c1205b2ff8359f23e62f2dad7b218af66bd3f55bcb7825eaf3aa59774314e82f',
    });
  });

  it('goToLower equals the Unicode 13 simple lowercase mapping for every code point', () => {
    expect(mappingDigest(goToLower)).toEqual({
      count: 1393,
      digest: 'e5b02d21e57b469de4341d9cd890eafeb3eed9259ea4bc0785bea7fbf149f971',
    });
  });
});

describe('properties', () => {
  const ascii = fc.string({ unit: fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)) });
  // Text biased towards the code points that need special handling.
  const tricky = fc.array(
    fc.oneof(
      fc.constantFrom('ß', 'İ', 'Σ', 'σ', 'ς', 'ᾳ', 'ᾈ', 'ﬁ', 'ŉ', 'ƛ', cp(0x10570), cp(0x10597), ' ', 'a', 'Z', '\ud800'),
      fc.string({ unit: 'grapheme', maxLength: 3 }),
    ),
    { maxLength: 12 },
  );

  it('ASCII results equal JavaScript', () => {
    fc.assert(
      fc.property(ascii, (s) => {
        expect(goToUpper(s)).toBe(s.toUpperCase());
        expect(goToLower(s)).toBe(s.toLowerCase());
      }),
    );
  });

  it('mapping is per code point (no context)', () => {
    fc.assert(
      fc.property(tricky, (parts) => {
        const s = parts.join('');
        const chars = Array.from(s);
        expect(goToUpper(s)).toBe(chars.map(goToUpper).join(''));
        expect(goToLower(s)).toBe(chars.map(goToLower).join(''));
      }),
    );
  });

  it('never changes the number of code points', () => {
    fc.assert(
      fc.property(tricky, (parts) => {
        const s = parts.join('');
        const n = Array.from(s).length;
        expect(Array.from(goToUpper(s)).length).toBe(n);
        expect(Array.from(goToLower(s)).length).toBe(n);
      }),
    );
  });
});
