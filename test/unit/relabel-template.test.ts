import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Template } from '../../src/relabel/template.js';

type Groups = (string | undefined)[];

// A match of `(a)(b)` on "ab", and of 11 groups for the $10 cases.
const AB: Groups = ['ab', 'a', 'b'];
const NO_NAMES: (string | undefined)[] = [];
const ELEVEN: Groups = ['whole', 'g1', 'g2', 'g3', 'g4', 'g5', 'g6', 'g7', 'g8', 'g9', 'g10', 'g11'];

interface Case {
  name: string;
  template: string;
  groups: Groups;
  names?: (string | undefined)[];
  want: string;
}

describe('Template.expand (Go regexp.Expand)', () => {
  const cases: Case[] = [
    // Plain references.
    { name: 'unbraced number', template: '$1', groups: AB, want: 'a' },
    { name: 'braced number', template: '${2}', groups: AB, want: 'b' },
    { name: '$0 is the whole match', template: '$0', groups: AB, want: 'ab' },
    { name: 'text around references', template: 'x-$1-${2}-y', groups: AB, want: 'x-a-b-y' },
    { name: 'adjacent references', template: '$1$2${1}', groups: AB, want: 'aba' },
    { name: 'no references', template: 'plain', groups: AB, want: 'plain' },
    { name: 'empty template', template: '', groups: AB, want: '' },
    // $$.
    { name: '$$ is a dollar', template: '$$', groups: AB, want: '$' },
    { name: '$$1 is a literal $1', template: '$$1', groups: AB, want: '$1' },
    { name: '$$$1 is a dollar then group 1', template: '$$$1', groups: AB, want: '$a' },
    { name: '$$$$ is two dollars', template: '$$$$', groups: AB, want: '$$' },
    // Unbraced names are as long as possible.
    { name: '$1_x is the name 1_x', template: '$1_x', groups: AB, want: '' },
    { name: '$1_x finds a group named 1_x', template: '$1_x', groups: AB, names: [undefined, undefined, '1_x'], want: 'b' },
    { name: '${1}_x is group 1 then _x', template: '${1}_x', groups: AB, want: 'a_x' },
    { name: '$1x is the name 1x', template: '$1x', groups: AB, want: '' },
    { name: '$1é: Unicode letters continue the name', template: '$1é', groups: AB, want: '' },
    { name: '$1-x: a hyphen ends the name', template: '$1-x', groups: AB, want: 'a-x' },
    { name: '$1.x: a dot ends the name', template: '$1.x', groups: AB, want: 'a.x' },
    { name: '$10 is group 10', template: '$10', groups: ELEVEN, want: 'g10' },
    { name: '$10 out of range is empty, not group 1 then 0', template: '$10', groups: AB, want: '' },
    { name: '${1}0 is group 1 then 0', template: '${1}0', groups: AB, want: 'a0' },
    { name: '$11', template: '$11', groups: ELEVEN, want: 'g11' },
    // Numbers versus names.
    { name: '$01 is the name 01', template: '$01', groups: AB, names: [undefined, '01', undefined], want: 'a' },
    { name: '$01 without such a name is empty, not group 1', template: '$01', groups: AB, want: '' },
    { name: '${00} is a name', template: '${00}', groups: AB, names: [undefined, undefined, '00'], want: 'b' },
    { name: 'a group named like a number is reached by index', template: '$2', groups: AB, names: [undefined, '2', undefined], want: 'b' },
    {
      name: '9 digits are still a number (Go stops only when a digit follows a value >= 1e8)',
      template: '$100000000',
      groups: AB,
      names: [undefined, '100000000', undefined],
      want: '',
    },
    {
      name: '10 digits are a name',
      template: '$1000000000',
      groups: AB,
      names: [undefined, '1000000000', undefined],
      want: 'a',
    },
    { name: 'huge number is a name, missing', template: '${99999999999999999999}', groups: AB, want: '' },
    { name: 'Arabic-Indic digit one is a name, not group 1', template: '$\u0661', groups: AB, want: '' },
    {
      name: 'Arabic-Indic digit one finds its named group',
      template: '${\u0661}',
      groups: AB,
      names: [undefined, undefined, '\u0661'],
      want: 'b',
    },
    // Named groups.
    { name: 'named group', template: '$foo', groups: AB, names: [undefined, 'foo', 'bar'], want: 'a' },
    { name: 'braced named group', template: '${bar}x', groups: AB, names: [undefined, 'foo', 'bar'], want: 'bx' },
    { name: 'unknown name', template: '[$baz]', groups: AB, names: [undefined, 'foo', 'bar'], want: '[]' },
    { name: 'underscore is a name', template: '$_', groups: AB, names: [undefined, '_', undefined], want: 'a' },
    { name: 'Unicode name', template: '$名前!', groups: AB, names: [undefined, undefined, '名前'], want: 'b!' },
    { name: 'name is case-sensitive', template: '$Foo', groups: AB, names: [undefined, 'foo', undefined], want: '' },
    {
      name: 'repeated name: first participating group wins',
      template: '$n',
      groups: ['b', undefined, 'b'],
      names: [undefined, 'n', 'n'],
      want: 'b',
    },
    {
      name: 'repeated name: both participate, the first wins',
      template: '$n',
      groups: ['ab', 'a', 'b'],
      names: [undefined, 'n', 'n'],
      want: 'a',
    },
    {
      name: 'repeated name: an empty participating group still wins',
      template: '<$n>',
      groups: ['b', '', 'b'],
      names: [undefined, 'n', 'n'],
      want: '<>',
    },
    {
      name: 'name not participating',
      template: '<${n}>',
      groups: ['x', undefined],
      names: [undefined, 'n'],
      want: '<>',
    },
    // Missing and non-participating groups.
    { name: 'out of range number', template: '<$3>', groups: AB, want: '<>' },
    { name: 'non-participating group', template: '<$1>', groups: ['b', undefined, 'b'], want: '<>' },
    { name: 'empty participating group', template: '<$1>', groups: ['b', '', 'b'], want: '<>' },
    // Malformed references are copied literally with what follows.
    { name: 'trailing $', template: 'x$', groups: AB, want: 'x$' },
    { name: 'lone $', template: '$', groups: AB, want: '$' },
    { name: '$-1', template: '$-1', groups: AB, want: '$-1' },
    { name: '${1 without }', template: '${1', groups: AB, want: '${1' },
    { name: '${}', template: '${}', groups: AB, want: '${}' },
    { name: '${ with space', template: '${ 1}', groups: AB, want: '${ 1}' },
    { name: '${1-} (invalid char before })', template: '${1-}', groups: AB, want: '${1-}' },
    { name: 'scanning resumes after the $: ${$1}', template: '${$1}', groups: AB, want: '${a}' },
    { name: 'scanning resumes after the $: ${1$2', template: '${1$2', groups: AB, want: '${1b' },
    { name: 'extra } after braced ref', template: '${1}}', groups: AB, want: 'a}' },
    { name: '$ before a non-name symbol', template: 'a$.b', groups: AB, want: 'a$.b' },
    { name: '$ before a space', template: '$ 1', groups: AB, want: '$ 1' },
    { name: '$ before an emoji (not a letter)', template: '$😀', groups: AB, want: '$😀' },
    // Go 1.19's tables are Unicode 13: later letters end a name.
    { name: 'Unicode 14 letter ends the name', template: '$1\u{10570}', groups: AB, want: 'a\u{10570}' },
    { name: 'Unicode 14 CJK ideograph ends the name', template: '$1\u9ffd', groups: AB, want: 'a\u9ffd' },
    { name: 'Unicode 13 CJK ideograph continues it', template: '$1\u9ffc', groups: AB, want: '' },
    { name: 'Unicode 14 letter is no name', template: '${\u{10570}}', groups: AB, want: '${\u{10570}}' },
  ];

  it.each(cases)('$name: $template', ({ template, groups, names, want }) => {
    expect(Template.parse(template).expand(groups, names ?? NO_NAMES)).toBe(want);
  });

  it('is reusable across matches', () => {
    const t = Template.parse('${1}:$2');
    expect(t.expand(AB, NO_NAMES)).toBe('a:b');
    expect(t.expand(['xy', 'x', undefined], NO_NAMES)).toBe('x:');
    expect(t.expand(['xy', 'x', 'y'], NO_NAMES)).toBe('x:y');
  });
});

describe('name characters', () => {
  it('are exactly Unicode 13.0 letters (L), decimal digits (Nd) and _', () => {
    // Expected: '_' plus the code points of gc=L or gc=Nd that are assigned in Unicode 13.0 (Perl's
    // Unicode::UCD inversion lists for gc=L, gc=Nd and In=13.0), as hex lines, hashed.
    const hash = createHash('sha256');
    let count = 0;
    for (let c = 0; c <= 0x10ffff; c++) {
      if (c >= 0xd800 && c <= 0xdfff) continue;
      if (Template.parse(`\${${String.fromCodePoint(c)}}`).literal === undefined) {
        hash.update(`${c.toString(16)}\n`);
        count++;
      }
    }
    expect({ count, digest: hash.digest('hex') }).toEqual({
      count: 131892,
      digest: '7f40fb1a483814032d4c91cb4f6f4602f81c1975c42f35828935964c152b43fc',
    });
  });
});

describe('Template.literal and text', () => {
  const cases: { template: string; literal: string | undefined }[] = [
    { template: '', literal: '' },
    { template: 'foo', literal: 'foo' },
    { template: '$$', literal: '$' },
    { template: 'a$$1b', literal: 'a$1b' },
    { template: 'x$', literal: 'x$' },
    { template: '$-1', literal: '$-1' },
    { template: '${1', literal: '${1' },
    { template: '${}', literal: '${}' },
    { template: '$1', literal: undefined },
    { template: '${1}', literal: undefined },
    { template: 'a$name', literal: undefined },
    { template: '$$$1', literal: undefined },
    { template: '$0', literal: undefined },
  ];
  it.each(cases)('$template -> literal $literal', ({ template, literal }) => {
    const t = Template.parse(template);
    expect(t.literal).toBe(literal);
    expect(t.text).toBe(template);
    if (literal !== undefined) expect(t.expand(AB, NO_NAMES)).toBe(literal);
  });

  it('text without $ is its own literal', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme' }).filter((s) => !s.includes('$')),
        (text) => {
          expect(Template.parse(text).literal).toBe(text);
        },
      ),
    );
  });

  it('escaping every $ as $$ gives back the text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (text) => {
        const t = Template.parse(text.replaceAll('$', '$$$$'));
        expect(t.literal).toBe(text);
        expect(t.expand(AB, NO_NAMES)).toBe(text);
      }),
    );
  });

  it('${n} of a numbered group always yields that group', () => {
    fc.assert(
      fc.property(fc.array(fc.option(fc.string(), { nil: undefined }), { minLength: 1, maxLength: 15 }), fc.nat(20), (groups, n) => {
        expect(Template.parse(`<\${${n}}>`).expand(groups, NO_NAMES)).toBe(`<${groups[n] ?? ''}>`);
      }),
    );
  });
});
