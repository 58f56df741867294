/**
 * Token material: generating secrets and public ids, hashing secrets, comparing hashes.
 *
 * tributary stores and compares only SHA-256 hashes. A plain (unsalted, fast) hash is enough here
 * because the secrets are 256 random bits, not passwords: there is nothing to brute-force.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Every secret starts with this, so a leaked one is recognisable (secret scanners, grep). */
export const TOKEN_PREFIX = 'trib_';

/** Every public token id starts with this; ids are safe to print and log. */
export const TOKEN_ID_PREFIX = 'tok_';

const SECRET_BYTES = 32;
const ID_BYTES = 6;

/** A new secret: `trib_` + 32 random bytes in base64url (256 bits of entropy, 48 characters). */
export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(SECRET_BYTES).toString('base64url');
}

/** A new public id: `tok_` + 12 hex digits. Random, so it tells nothing about the secret. */
export function generateTokenId(): string {
  return TOKEN_ID_PREFIX + randomBytes(ID_BYTES).toString('hex');
}

/** SHA-256 of the secret's UTF-8 bytes, lowercase hex (what `sha256sum` prints for the same bytes). */
export function hashToken(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/**
 * Compare two hashes in time that does not depend on where they differ. Hashes of different length
 * are unequal at once: a hash's length is public (always 64 for SHA-256 hex).
 */
export function hashesEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  if (left.length !== right.length) return false;
  return timingSafeEqual(left, right);
}
