/**
 * The authenticate stage: `Authorization` header → `Principal`, or a 401/403.
 *
 * Tokens come from two places: the config file (`tokens:`, by `token_file` or `token_sha256`) and the
 * state database (`tributary token create`). Both are looked up by the SHA-256 of the presented
 * token, so the secret itself is never stored, compared or logged.
 *
 * This runs once per request, before the body is read. A database lookup is cached for a second so a
 * busy edge costs no query per request while a revocation still takes effect within about a second.
 */
import { readFileSync } from 'node:fs';
import type { TokenConfig } from '../config/schema.js';
import { ForbiddenError, UnauthenticatedError } from '../errors.js';
import type { Database } from '../state/db.js';
import { type TokenRecord, TokensRepo, type TokenUse } from '../state/tokens-repo.js';
import { createPrincipal, type Principal } from './principal.js';
import { hashesEqual, hashToken } from './token.js';

export interface AuthenticatorOptions {
  /** The state database; `undefined` when only config tokens are in use. */
  readonly db: Database | undefined;
  readonly configTokens: readonly TokenConfig[];
  /** Clock in ms since the epoch; injected by tests. */
  readonly now?: () => number;
  /** How long a database lookup (found, unknown or revoked) is reused. Default 1000 ms. */
  readonly cacheTtlMs?: number;
  /** Cap on cached lookups; the cache is cleared when it is full. Default 10 000. */
  readonly maxCacheEntries?: number;
}

/**
 * Config tokens that cannot be used: unreadable or empty `token_file`, or two entries with the same
 * token. `problems` name the field path (`tokens[2].token_file`), ready for a `ConfigError`.
 */
export class ConfigTokenError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid tokens in config:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

const DEFAULT_CACHE_TTL_MS = 1000;
const DEFAULT_MAX_CACHE_ENTRIES = 10_000;

/** Prometheus sends the token this way with `authorization: { credentials_file: … }`. */
const HOW_TO_SEND =
  'send "Authorization: Bearer <token>" (Prometheus remote_write: authorization: { credentials_file: <file> }) or basic auth with the token as the password';

/** What a database lookup found, as cached. */
type Lookup =
  | { readonly kind: 'ok'; readonly principal: Principal; readonly hash: string }
  | { readonly kind: 'revoked'; readonly tokenId: string; readonly tenant: string; readonly revokedAtMs: number; readonly hash: string }
  | { readonly kind: 'unknown' };

interface CacheEntry {
  readonly expiresAtMs: number;
  readonly lookup: Lookup;
}

interface ConfigToken {
  readonly principal: Principal;
  readonly hash: string;
}

export class Authenticator {
  readonly #repo: TokensRepo | undefined;
  readonly #now: () => number;
  readonly #cacheTtlMs: number;
  readonly #maxCacheEntries: number;
  /** hash → config token; replaced whole on reload. */
  #configByHash: ReadonlyMap<string, ConfigToken>;
  /** hash → the last database lookup for it. */
  readonly #cache = new Map<string, CacheEntry>();
  /** token id → the last time it authenticated a request, not yet written to the database. */
  #pendingUses = new Map<string, number>();

  constructor(options: AuthenticatorOptions) {
    this.#repo = options.db === undefined ? undefined : new TokensRepo(options.db);
    this.#now = options.now ?? Date.now;
    this.#cacheTtlMs = options.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS;
    this.#maxCacheEntries = options.maxCacheEntries ?? DEFAULT_MAX_CACHE_ENTRIES;
    this.#configByHash = loadConfigTokens(options.configTokens);
  }

  /**
   * Replace the config tokens (on config reload). Reads every `token_file` again; on any problem
   * throws `ConfigTokenError` and keeps the tokens it had.
   */
  reloadConfigTokens(tokens: readonly TokenConfig[]): void {
    this.#configByHash = loadConfigTokens(tokens);
  }

  /**
   * Who is this request? Throws `UnauthenticatedError` (401: `missing_token`, `unknown_token`) or
   * `ForbiddenError` (403: `token_revoked`). No message ever contains the presented token.
   */
  authenticate(authorizationHeader: string | undefined): Principal {
    const token = parseAuthorization(authorizationHeader);
    // Look up by hash: the map and the SQL index compare hashes, never the secret, so how long a
    // lookup takes reveals nothing about the secret. hashesEqual then confirms in constant time.
    const hash = hashToken(token);

    const configToken = this.#configByHash.get(hash);
    if (configToken !== undefined && hashesEqual(hash, configToken.hash)) return configToken.principal;

    const lookup = this.#lookupInDb(hash);
    if (lookup.kind === 'ok' && hashesEqual(hash, lookup.hash)) {
      this.#pendingUses.set(lookup.principal.tokenId, this.#now());
      return lookup.principal;
    }
    if (lookup.kind === 'revoked' && hashesEqual(hash, lookup.hash)) {
      throw new ForbiddenError(
        'token_revoked',
        `token ${lookup.tokenId} (tenant "${lookup.tenant}") was revoked at ${new Date(lookup.revokedAtMs).toISOString()}; ` +
          `create a new one with "tributary token create --tenant ${lookup.tenant} --cluster <cluster>" and update this edge's credentials file`,
      );
    }
    throw new UnauthenticatedError(
      'unknown_token',
      `unknown token: it matches no token in the config or the state database; check the edge's credentials file, or ${HOW_TO_SEND}`,
    );
  }

  /**
   * Write the pending last-used times to the database in one transaction. Call it on a timer (every
   * few seconds) and once at shutdown, before the database is closed. Returns how many tokens were
   * written. On failure the times stay pending for the next call, and the error is thrown.
   */
  flushLastUsed(): number {
    if (this.#repo === undefined || this.#pendingUses.size === 0) return 0;
    const pending = this.#pendingUses;
    this.#pendingUses = new Map();
    const uses: TokenUse[] = [];
    for (const [id, atMs] of pending) uses.push({ id, atMs });
    try {
      this.#repo.touchLastUsed(uses);
    } catch (err) {
      // Keep them for the next flush; a use recorded meanwhile is newer and wins.
      for (const [id, atMs] of pending) if (!this.#pendingUses.has(id)) this.#pendingUses.set(id, atMs);
      throw err;
    }
    return uses.length;
  }

  /** Forget every cached database lookup (e.g. right after revoking a token in-process). */
  clearCache(): void {
    this.#cache.clear();
  }

  #lookupInDb(hash: string): Lookup {
    if (this.#repo === undefined) return UNKNOWN;
    const now = this.#now();
    const cached = this.#cache.get(hash);
    if (cached !== undefined && cached.expiresAtMs > now) return cached.lookup;

    const lookup = toLookup(this.#repo.findByHash(hash));
    // Bounded: a flood of random tokens fills the cache with misses; start over rather than grow.
    // Clearing costs at most one query per active token on the next requests.
    if (this.#cache.size >= this.#maxCacheEntries && !this.#cache.has(hash)) this.#cache.clear();
    this.#cache.set(hash, { expiresAtMs: now + this.#cacheTtlMs, lookup });
    return lookup;
  }
}

const UNKNOWN: Lookup = Object.freeze({ kind: 'unknown' });

function toLookup(record: TokenRecord | undefined): Lookup {
  if (record === undefined) return UNKNOWN;
  if (record.revokedAtMs !== undefined) {
    return { kind: 'revoked', tokenId: record.id, tenant: record.tenant, revokedAtMs: record.revokedAtMs, hash: record.hash };
  }
  return { kind: 'ok', principal: createPrincipal(record.tenant, record.id, record.clusters), hash: record.hash };
}

/**
 * The token from `Bearer <token>` or `Basic base64(user:token)`. The scheme is case-insensitive
 * (RFC 9110). Messages describe what is wrong without repeating any part of the header.
 */
export function parseAuthorization(header: string | undefined): string {
  if (header === undefined || header.trim() === '') {
    throw new UnauthenticatedError('missing_token', `missing Authorization header: ${HOW_TO_SEND}`);
  }
  const trimmed = header.trim();
  const space = trimmed.indexOf(' ');
  const scheme = space === -1 ? '' : trimmed.slice(0, space).toLowerCase();
  const credentials = space === -1 ? '' : trimmed.slice(space + 1).trim();

  if (scheme === 'bearer') {
    if (credentials === '') throw new UnauthenticatedError('missing_token', `empty Bearer token: ${HOW_TO_SEND}`);
    return credentials;
  }
  if (scheme === 'basic') {
    const decoded = Buffer.from(credentials, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    // The username only labels the sender; the password is the token.
    const password = colon === -1 ? '' : decoded.slice(colon + 1);
    if (password === '') {
      throw new UnauthenticatedError('missing_token', `basic auth without a password: the password must be the token; ${HOW_TO_SEND}`);
    }
    return password;
  }
  // Do not name the scheme: a header without one ("Authorization: <token>") would echo the token.
  throw new UnauthenticatedError('missing_token', `unsupported Authorization scheme: ${HOW_TO_SEND}`);
}

/** Read every config token (collecting all problems at once) and index it by hash. */
function loadConfigTokens(tokens: readonly TokenConfig[]): ReadonlyMap<string, ConfigToken> {
  const byHash = new Map<string, ConfigToken>();
  const indexByHash = new Map<string, number>();
  const problems: string[] = [];
  tokens.forEach((token, i) => {
    const hash = configTokenHash(token, i, problems);
    if (hash === undefined) return;
    const earlier = indexByHash.get(hash);
    if (earlier !== undefined) {
      problems.push(`tokens[${i}]: the same token as tokens[${earlier}]; every token must be unique (it decides the tenant)`);
      return;
    }
    indexByHash.set(hash, i);
    byHash.set(hash, { hash, principal: createPrincipal(token.tenant, `config:${i}`, token.clusters) });
  });
  if (problems.length > 0) throw new ConfigTokenError(problems);
  return byHash;
}

function configTokenHash(token: TokenConfig, index: number, problems: string[]): string | undefined {
  if (token.token_sha256 !== undefined) return token.token_sha256.toLowerCase();
  const path = token.token_file;
  if (path === undefined) {
    problems.push(`tokens[${index}]: set exactly one of token_file or token_sha256`);
    return undefined;
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    problems.push(`tokens[${index}].token_file: cannot read "${path}": ${(err as Error).message}`);
    return undefined;
  }
  // Prometheus trims whitespace around a credentials_file's content too; a trailing newline from
  // `echo` or a Kubernetes Secret must not make the hashes differ.
  const secret = text.trim();
  if (secret === '') {
    problems.push(`tokens[${index}].token_file: "${path}" is empty`);
    return undefined;
  }
  return hashToken(secret);
}
