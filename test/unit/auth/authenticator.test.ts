import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Authenticator, ConfigTokenError, parseAuthorization } from '../../../src/auth/authenticator.js';
import { generateToken, generateTokenId, hashToken } from '../../../src/auth/token.js';
import type { TokenConfig } from '../../../src/config/schema.js';
import { ForbiddenError, TributaryError, UnauthenticatedError } from '../../../src/errors.js';
import { closeDatabase, type Database, openDatabase } from '../../../src/state/db.js';
import { TokensRepo } from '../../../src/state/tokens-repo.js';

let dir: string;
let db: Database;
let repo: TokensRepo;
let nowMs: number;
const now = (): number => nowMs;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tributary-auth-'));
  db = openDatabase(dir);
  repo = new TokensRepo(db);
  nowMs = Date.UTC(2024, 0, 1);
});

afterEach(() => {
  vi.restoreAllMocks();
  closeDatabase(db);
  rmSync(dir, { recursive: true, force: true });
});

const bearer = (token: string): string => `Bearer ${token}`;
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** Store a token in the database the way `tributary token create` does; returns its secret and id. */
function createDbToken(tenant = 'acme', clusters: readonly string[] = ['eu-1']): { secret: string; id: string } {
  const secret = generateToken();
  const id = generateTokenId();
  repo.create({ id, hash: hashToken(secret), tenant, clusters, createdAtMs: nowMs });
  return { secret, id };
}

function authenticator(configTokens: readonly TokenConfig[] = []): Authenticator {
  return new Authenticator({ db, configTokens, now });
}

/** Run `fn`, expecting it to throw a TributaryError; return it. */
function caught(fn: () => unknown): TributaryError {
  try {
    fn();
  } catch (err) {
    if (err instanceof TributaryError) return err;
    throw err;
  }
  throw new Error('expected a TributaryError, nothing was thrown');
}

describe('parseAuthorization', () => {
  it.each([
    { name: 'a Bearer token', header: 'Bearer trib_abc', token: 'trib_abc' },
    { name: 'a lowercase scheme', header: 'bearer trib_abc', token: 'trib_abc' },
    { name: 'extra spaces around the token', header: '  Bearer   trib_abc  ', token: 'trib_abc' },
    { name: 'basic auth, taking the password as the token', header: basic('edge-eu-1', 'trib_abc'), token: 'trib_abc' },
    { name: 'basic auth with a colon inside the password', header: basic('edge', 'a:b'), token: 'a:b' },
    { name: 'basic auth with an empty username', header: basic('', 'trib_abc'), token: 'trib_abc' },
  ])('reads $name', ({ header, token }) => {
    expect(parseAuthorization(header)).toBe(token);
  });

  it.each([
    { name: 'no header', header: undefined },
    { name: 'an empty header', header: '' },
    { name: 'Bearer without a token', header: 'Bearer' },
    { name: 'Bearer with only spaces', header: 'Bearer    ' },
    { name: 'basic auth without a colon', header: `Basic ${Buffer.from('just-a-user').toString('base64')}` },
    { name: 'basic auth with an empty password', header: basic('edge', '') },
    { name: 'an unknown scheme', header: 'Token trib_abc' },
    { name: 'a bare token without a scheme', header: 'trib_abc' },
  ])('refuses $name with 401 missing_token', ({ header }) => {
    const err = caught(() => parseAuthorization(header));
    expect(err).toBeInstanceOf(UnauthenticatedError);
    expect(err.status).toBe(401);
    expect(err.reason).toBe('missing_token');
    expect(err.message).toMatch(/Bearer/);
  });
});

describe('Authenticator with database tokens', () => {
  it('maps a valid Bearer token to its tenant, token id and clusters', () => {
    const { secret, id } = createDbToken('acme', ['eu-1', 'eu-2']);
    const principal = authenticator().authenticate(bearer(secret));
    expect(principal).toEqual({ tenant: 'acme', tokenId: id, allowedClusters: ['eu-1', 'eu-2'] });
    expect(Object.isFrozen(principal)).toBe(true);
  });

  it('accepts the same token sent as a basic-auth password', () => {
    const { secret } = createDbToken('acme');
    expect(authenticator().authenticate(basic('edge-eu-1', secret)).tenant).toBe('acme');
  });

  it('refuses a token it does not know with 401 unknown_token', () => {
    createDbToken();
    const err = caught(() => authenticator().authenticate(bearer(generateToken())));
    expect(err).toBeInstanceOf(UnauthenticatedError);
    expect(err).toMatchObject({ status: 401, reason: 'unknown_token' });
  });

  it('refuses a revoked token with 403 token_revoked, naming the token id and what to do', () => {
    const { secret, id } = createDbToken('acme');
    repo.revoke(id, nowMs);
    const err = caught(() => authenticator().authenticate(bearer(secret)));
    expect(err).toBeInstanceOf(ForbiddenError);
    expect(err).toMatchObject({ status: 403, reason: 'token_revoked' });
    expect(err.message).toContain(id);
    expect(err.message).toContain('tributary token create --tenant acme');
  });

  it('sees a revocation once the cache entry expired, not before', () => {
    const { secret, id } = createDbToken();
    const auth = new Authenticator({ db, configTokens: [], now, cacheTtlMs: 1000 });
    auth.authenticate(bearer(secret));

    repo.revoke(id, nowMs);
    nowMs += 999;
    expect(auth.authenticate(bearer(secret)).tokenId).toBe(id); // still the cached lookup
    nowMs += 1;
    expect(caught(() => auth.authenticate(bearer(secret)))).toBeInstanceOf(ForbiddenError);
  });

  it('sees a token created after a cached miss once the miss expired', () => {
    const auth = authenticator();
    const secret = generateToken();
    expect(caught(() => auth.authenticate(bearer(secret))).reason).toBe('unknown_token');
    repo.create({ id: 'tok_late', hash: hashToken(secret), tenant: 'acme', clusters: ['eu-1'], createdAtMs: nowMs });
    expect(caught(() => auth.authenticate(bearer(secret))).reason).toBe('unknown_token');
    nowMs += 1000;
    expect(auth.authenticate(bearer(secret)).tokenId).toBe('tok_late');
  });

  it('queries the database once per token per cache TTL, for hits and misses alike', () => {
    const findByHash = vi.spyOn(TokensRepo.prototype, 'findByHash');
    const { secret } = createDbToken();
    const unknown = generateToken();
    const auth = authenticator();
    for (let i = 0; i < 50; i++) {
      auth.authenticate(bearer(secret));
      caught(() => auth.authenticate(bearer(unknown)));
    }
    expect(findByHash).toHaveBeenCalledTimes(2);
    nowMs += 1000;
    auth.authenticate(bearer(secret));
    expect(findByHash).toHaveBeenCalledTimes(3);
  });

  it('keeps the cache bounded by starting over when it is full', () => {
    const findByHash = vi.spyOn(TokensRepo.prototype, 'findByHash');
    const { secret } = createDbToken();
    const auth = new Authenticator({ db, configTokens: [], now, maxCacheEntries: 3 });
    auth.authenticate(bearer(secret));
    for (let i = 0; i < 3; i++) caught(() => auth.authenticate(bearer(generateToken())));
    // The fourth distinct lookup cleared the cache, so the valid token is looked up again.
    auth.authenticate(bearer(secret));
    expect(findByHash).toHaveBeenCalledTimes(5);
  });

  it('clearCache makes the next request look the token up again', () => {
    const { secret, id } = createDbToken();
    const auth = authenticator();
    auth.authenticate(bearer(secret));
    repo.revoke(id, nowMs);
    auth.clearCache();
    expect(caught(() => auth.authenticate(bearer(secret)))).toBeInstanceOf(ForbiddenError);
  });

  it('records last use in memory and writes it only on flush', () => {
    const { secret, id } = createDbToken();
    const auth = authenticator();
    auth.authenticate(bearer(secret));
    nowMs += 5000;
    auth.authenticate(bearer(secret));
    expect(repo.findById(id)?.lastUsedAtMs).toBeUndefined();

    expect(auth.flushLastUsed()).toBe(1);
    expect(repo.findById(id)?.lastUsedAtMs).toBe(nowMs);
    expect(auth.flushLastUsed()).toBe(0);
  });

  it('keeps pending last-use times when a flush fails, for the next flush', () => {
    const { secret, id } = createDbToken();
    const auth = authenticator();
    auth.authenticate(bearer(secret));
    vi.spyOn(TokensRepo.prototype, 'touchLastUsed').mockImplementationOnce(() => {
      throw new Error('SQLITE_BUSY');
    });
    expect(() => auth.flushLastUsed()).toThrow('SQLITE_BUSY');
    expect(auth.flushLastUsed()).toBe(1);
    expect(repo.findById(id)?.lastUsedAtMs).toBe(nowMs);
  });
});

describe('Authenticator with config tokens', () => {
  it('reads a token_file, ignoring surrounding whitespace and the trailing newline', () => {
    const secret = generateToken();
    const file = join(dir, 'token');
    writeFileSync(file, `${secret}\n`);
    const auth = authenticator([{ tenant: 'acme', clusters: ['eu-1'], token_file: file }]);
    expect(auth.authenticate(bearer(secret))).toEqual({ tenant: 'acme', tokenId: 'config:0', allowedClusters: ['eu-1'] });
  });

  it('accepts a token declared by its sha256, in either case', () => {
    const secret = generateToken();
    const auth = authenticator([
      { tenant: 'other', clusters: ['x'], token_sha256: hashToken(generateToken()) },
      { tenant: 'acme', clusters: ['eu-1'], token_sha256: hashToken(secret).toUpperCase() },
    ]);
    expect(auth.authenticate(basic('edge', secret))).toMatchObject({ tenant: 'acme', tokenId: 'config:1' });
  });

  it('works without a database', () => {
    const secret = generateToken();
    const auth = new Authenticator({ db: undefined, configTokens: [{ tenant: 'acme', clusters: ['eu-1'], token_sha256: hashToken(secret) }] });
    expect(auth.authenticate(bearer(secret)).tenant).toBe('acme');
    expect(caught(() => auth.authenticate(bearer(generateToken()))).reason).toBe('unknown_token');
    expect(auth.flushLastUsed()).toBe(0);
  });

  it.each([
    { name: 'a missing token_file', content: undefined, problem: /^tokens\[1\]\.token_file: cannot read ".*missing"/ },
    { name: 'an empty token_file', content: '\n  \n', problem: /^tokens\[1\]\.token_file: ".*missing" is empty$/ },
  ])('refuses $name with an error naming the tokens index and the file', ({ content, problem }) => {
    const file = join(dir, 'missing');
    if (content !== undefined) writeFileSync(file, content);
    const tokens: TokenConfig[] = [
      { tenant: 'acme', clusters: ['eu-1'], token_sha256: hashToken('a') },
      { tenant: 'acme', clusters: ['eu-1'], token_file: file },
    ];
    let error: unknown;
    try {
      authenticator(tokens);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigTokenError);
    expect((error as ConfigTokenError).problems).toEqual([expect.stringMatching(problem)]);
  });

  it('refuses two config tokens with the same secret', () => {
    const secret = generateToken();
    const file = join(dir, 'token');
    writeFileSync(file, secret);
    expect(() =>
      authenticator([
        { tenant: 'acme', clusters: ['eu-1'], token_file: file },
        { tenant: 'globex', clusters: ['us-1'], token_sha256: hashToken(secret) },
      ]),
    ).toThrow(/tokens\[1\]: the same token as tokens\[0\]/);
  });

  it('swaps config tokens on reload, and keeps the old ones when the new list is broken', () => {
    const first = generateToken();
    const second = generateToken();
    const auth = authenticator([{ tenant: 'acme', clusters: ['eu-1'], token_sha256: hashToken(first) }]);

    auth.reloadConfigTokens([{ tenant: 'acme', clusters: ['eu-1'], token_sha256: hashToken(second) }]);
    expect(auth.authenticate(bearer(second)).tenant).toBe('acme');
    expect(caught(() => auth.authenticate(bearer(first))).reason).toBe('unknown_token');

    expect(() => auth.reloadConfigTokens([{ tenant: 'acme', clusters: ['eu-1'], token_file: join(dir, 'nope') }])).toThrow(ConfigTokenError);
    expect(auth.authenticate(bearer(second)).tenant).toBe('acme');
  });

  it('does not record last use for config tokens (they have no database row)', () => {
    const secret = generateToken();
    const auth = authenticator([{ tenant: 'acme', clusters: ['eu-1'], token_sha256: hashToken(secret) }]);
    auth.authenticate(bearer(secret));
    expect(auth.flushLastUsed()).toBe(0);
  });
});

describe('error messages', () => {
  it('never contain the presented token, whatever the outcome and however it was sent', () => {
    const revoked = createDbToken();
    repo.revoke(revoked.id, nowMs);
    const auth = authenticator();
    const secretArb = fc.oneof(
      fc.constant(revoked.secret),
      fc.string({ minLength: 8, maxLength: 64, unit: 'grapheme-ascii' }).filter((s) => s.trim().length >= 8 && !s.includes(':')),
    );
    const shapes = [
      (s: string) => bearer(s),
      (s: string) => basic('edge', s),
      (s: string) => s, // no scheme at all
      (s: string) => `Token ${s}`,
      (s: string) => `Basic ${s}`, // not base64 of user:pass
    ];
    fc.assert(
      fc.property(secretArb, fc.integer({ min: 0, max: shapes.length - 1 }), (secret, shape) => {
        let err: unknown;
        try {
          auth.authenticate(shapes[shape]!(secret));
        } catch (e) {
          err = e;
        }
        if (!(err instanceof TributaryError)) return true; // an arbitrary string cannot be a valid token
        const needle = secret.trim();
        return !err.message.includes(needle) && !err.body().includes(needle);
      }),
      { numRuns: 500 },
    );
  });
});
