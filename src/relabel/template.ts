// Go's regexp.Expand, parsed once. A part is literal text (string), a group number (number) or a
// group name (NamedRef); expand() then only concatenates.
interface NamedRef {
  readonly name: string;
}
type Part = string | number | NamedRef;

// Go accepts unicode.IsLetter, unicode.IsDigit (category Nd) and '_' in names, with the tables of
// Go 1.19 (Unicode 13.0) that Prometheus 2.42 is built with. Node's ICU is newer, so the letters and
// digits assigned after Unicode 13.0 (derived from the Unicode Age property) are excluded.
const NAME_CHAR = /[\p{L}\p{Nd}_]/uy;
const POST_UNICODE_13 = new RegExp(
  `[${[
    '870-887 889-88f 8b5 8c8-8c9 c5c-c5d cdc-cdd 170d 171f 1b4c 1c89-1c8a 2c2f 2c5f 9ffd-9fff a7c0-a7c1',
    'a7cb-a7dc a7f1-a7f4 10570-1057a 1057c-1058a 1058c-10592 10594-10595 10597-105a1 105a3-105b1',
    '105b3-105b9 105bb-105bc 105c0-105f3 10780-10785 10787-107b0 107b2-107ba 10940-10959 10d40-10d65',
    '10d6f-10d85 10ec2-10ec7 10f70-10f81 11071-11072 11075 1123f-11240 11380-11389 1138b 1138e',
    '11390-113b5 113b7 113d1 113d3 116d0-116e3 11740-11746 11ab0-11abf 11bc0-11be0 11bf0-11bf9',
    '11db0-11ddb 11de0-11de9 11f02 11f04-11f10 11f12-11f33 11f50-11f59 12f90-12ff0 1342f 13441-13446',
    '13460-143fa 16100-1611d 16130-16139 16a70-16abe 16ac0-16ac9 16d40-16d6c 16d70-16d79 16ea0-16eb8',
    '16ebb-16ed3 16ff2-16ff3 187f8-187ff 18cff 18d09-18d1e 18d80-18df2 1aff0-1aff3 1aff5-1affb',
    '1affd-1affe 1b11f-1b122 1b132 1b155 1ccf0-1ccf9 1df00-1df1e 1df25-1df2a 1e030-1e06d 1e290-1e2ad',
    '1e4d0-1e4eb 1e4f0-1e4f9 1e5d0-1e5ed 1e5f0-1e5fa 1e6c0-1e6de 1e6e0-1e6e2 1e6e4-1e6e5 1e6e7-1e6ed',
    '1e6f0-1e6f4 1e6fe-1e6ff 1e7e0-1e7e6 1e7e8-1e7eb 1e7ed-1e7ee 1e7f0-1e7fe 2a6de-2a6df 2b735-2b73f',
    '2cea2-2cead 2ebf0-2ee5d 31350-33479',
  ]
    .join(' ')
    .replace(/[0-9a-f]+/g, (hex) => `\\u{${hex}}`)
    .replaceAll(' ', '')}]`,
  'uy',
);

export class Template {
  readonly text: string;
  readonly literal: string | undefined;
  private readonly parts: readonly Part[];

  private constructor(text: string, parts: Part[]) {
    this.text = text;
    this.parts = parts;
    this.literal = parts.length === 0 ? '' : parts.length === 1 && typeof parts[0] === 'string' ? parts[0] : undefined;
  }

  /** Parse once at config load. */
  static parse(text: string): Template {
    const parts: Part[] = [];
    let lit = '';
    let pos = 0;
    while (pos < text.length) {
      const dollar = text.indexOf('$', pos);
      if (dollar < 0) break;
      lit += text.slice(pos, dollar);
      pos = dollar + 1;
      if (text.charCodeAt(pos) === 0x24 /* $ */) {
        lit += '$';
        pos++;
        continue;
      }
      const ref = extract(text, pos);
      if (ref === undefined) {
        // Malformed reference: Go emits the '$' and goes on scanning right after it.
        lit += '$';
        continue;
      }
      if (lit !== '') parts.push(lit);
      lit = '';
      parts.push(ref.num >= 0 ? ref.num : { name: ref.name });
      pos = ref.end;
    }
    lit += text.slice(pos);
    if (lit !== '') parts.push(lit);
    return new Template(text, parts);
  }

  /**
   * Expand with a match: groups[0] is the whole match, groups[i] group i (undefined: did not participate);
   * groupNames[i] is group i's name or undefined (names may repeat: the first group of that name that participated wins).
   */
  expand(groups: readonly (string | undefined)[], groupNames: readonly (string | undefined)[]): string {
    const literal = this.literal;
    if (literal !== undefined) return literal;
    let out = '';
    for (const part of this.parts) {
      if (typeof part === 'string') {
        out += part;
      } else if (typeof part === 'number') {
        out += groups[part] ?? '';
      } else {
        const name = part.name;
        for (let i = 0; i < groupNames.length; i++) {
          if (groupNames[i] === name) {
            const g = groups[i];
            if (g !== undefined) {
              out += g;
              break;
            }
          }
        }
      }
    }
    return out;
  }
}

/** Go's regexp `extract`: the reference after a '$' at `start`, or undefined when malformed. */
function extract(text: string, start: number): { name: string; num: number; end: number } | undefined {
  let pos = start;
  const brace = text.charCodeAt(pos) === 0x7b; /* { */
  if (brace) pos++;
  const nameStart = pos;
  while (pos < text.length) {
    NAME_CHAR.lastIndex = pos;
    POST_UNICODE_13.lastIndex = pos;
    if (!NAME_CHAR.test(text) || POST_UNICODE_13.test(text)) break;
    pos = NAME_CHAR.lastIndex;
  }
  if (pos === nameStart) return undefined;
  const name = text.slice(nameStart, pos);
  if (brace) {
    if (text.charCodeAt(pos) !== 0x7d /* } */) return undefined;
    pos++;
  }
  return { name, num: groupNumber(name), end: pos };
}

/**
 * Go's rule for when a name is a group number: ASCII digits only, no leading zero, and Go stops
 * with "not a number" when a digit follows an accumulated value >= 1e8, i.e. at most 9 digits.
 * Returns -1 for names.
 */
function groupNumber(name: string): number {
  if (name.length > 9 || (name.length > 1 && name.charCodeAt(0) === 0x30)) return -1;
  let num = 0;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return -1;
    num = num * 10 + c;
  }
  return num;
}
