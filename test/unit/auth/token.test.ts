import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateToken, generateTokenId, hashesEqual, hashToken, TOKEN_ID_PREFIX, TOKEN_PREFIX } from '../../../src/auth/token.js';

describe('generateToken', () => {
  it('starts with trib_ followed by 32 random bytes in base64url', () => {
    const token = generateToken();
    expect(token).toMatch(/^trib_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64url')).toHaveLength(32);
  });

  it('never repeats itself over many draws', () => {
    const tokens = new Set(Array.from({ length: 2000 }, generateToken));
    expect(tokens.size).toBe(2000);
  });

  it('uses every base64url character position, as random bytes would', () => {
    // A weak source (e.g. a counter or a timestamp) would leave most positions constant.
    const tokens = Array.from({ length: 200 }, generateToken);
    for (let i = TOKEN_PREFIX.length; i < tokens[0]!.length - 1; i++) {
      expect(new Set(tokens.map((t) => t[i])).size).toBeGreaterThan(20);
    }
  });
});

describe('generateTokenId', () => {
  it('is tok_ followed by 12 hex digits and unrelated to any secret', () => {
    const id = generateTokenId();
    expect(id).toMatch(/^tok_[0-9a-f]{12}$/);
    expect(id.startsWith(TOKEN_ID_PREFIX)).toBe(true);
    expect(new Set(Array.from({ length: 500 }, generateTokenId)).size).toBe(500);
  });
});

describe('hashToken', () => {
  it.each([
    { input: 'abc', sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad' },
    { input: '', sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' },
    { input: 'é', sha256: '4a99557e4033c3539de2eb65472017cad5f9557f7a0625a09f1c3f6e2ba69c4c' },
  ])('hashes "$input" to the SHA-256 of its UTF-8 bytes, as `printf %s | sha256sum` does', ({ input, sha256 }) => {
    expect(hashToken(input)).toBe(sha256);
  });
});

describe('hashesEqual', () => {
  const h = hashToken('secret');
  it.each([
    { name: 'identical hashes', a: h, b: h, equal: true },
    { name: 'hashes differing in the last digit', a: h, b: h.slice(0, -1) + (h.endsWith('0') ? '1' : '0'), equal: false },
    { name: 'hashes differing in the first digit', a: h, b: (h.startsWith('0') ? '1' : '0') + h.slice(1), equal: false },
    { name: 'a prefix of the hash', a: h, b: h.slice(0, 32), equal: false },
    { name: 'an empty string', a: h, b: '', equal: false },
    { name: 'two empty strings', a: '', b: '', equal: true },
  ])('compares $name correctly', ({ a, b, equal }) => {
    expect(hashesEqual(a, b)).toBe(equal);
    expect(hashesEqual(b, a)).toBe(equal);
  });

  it('agrees with === on any pair of strings', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => hashesEqual(a, b) === (a === b)),
      { numRuns: 500 },
    );
  });
});
