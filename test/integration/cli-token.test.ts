import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { Authenticator } from '../../src/auth/authenticator.js';
import { hashToken } from '../../src/auth/token.js';
import { loadConfigFile } from '../../src/config/load.js';
import { ForbiddenError } from '../../src/errors.js';
import { startServer } from '../../src/server.js';
import { closeDatabase, openDatabase } from '../../src/state/db.js';
import { HttpSink } from '../support/forward-helpers.js';
import { type CliResult, runTokenCli } from '../support/run-cli.js';
import { body, push, series } from '../support/write-env.js';

let dir: string;
let dataDir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tributary-cli-'));
  dataDir = join(dir, 'data');
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Authenticate `secret` against the data dir with a fresh Authenticator (as a restarted server would). */
function authenticateAgainstDataDir(secret: string): unknown {
  const db = openDatabase(dataDir);
  try {
    return new Authenticator({ db, configTokens: [] }).authenticate(`Bearer ${secret}`);
  } catch (err) {
    return err;
  } finally {
    closeDatabase(db);
  }
}

describe('tributary token', () => {
  it('creates a token, lists it without the secret, authenticates with it, then revokes it', async () => {
    const created = await runTokenCli(['token', 'create', '--data-dir', dataDir, '--tenant', 'acme', '--cluster', 'eu-1', '--cluster', 'eu-2', '--description', 'frankfurt edge']);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^trib_[A-Za-z0-9_-]{43}\n$/);
    const secret = created.stdout.trim();
    expect(created.stderr).toMatch(/shown only this once/);
    expect(created.stderr).toMatch(/credentials_file:/);
    const id = /Created token (tok_[0-9a-f]{12})/.exec(created.stderr)?.[1];
    expect(id).toBeDefined();

    const listed = await runTokenCli(['token', 'list', '--data-dir', dataDir]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^ID\s+TENANT\s+CLUSTERS\s+CREATED\s+LAST USED\s+REVOKED/);
    expect(listed.stdout).toContain(id);
    expect(listed.stdout).toMatch(/acme\s+eu-1,eu-2/);
    for (const output of [listed.stdout, listed.stderr]) {
      expect(output).not.toContain(secret);
      expect(output).not.toContain(hashToken(secret));
    }

    expect(authenticateAgainstDataDir(secret)).toEqual({ tenant: 'acme', tokenId: id, allowedClusters: ['eu-1', 'eu-2'] });

    const revoked = await runTokenCli(['token', 'revoke', '--data-dir', dataDir, id!]);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain(`Revoked token ${id}`);

    const refused = authenticateAgainstDataDir(secret);
    expect(refused).toBeInstanceOf(ForbiddenError);
    expect(refused).toMatchObject({ status: 403, reason: 'token_revoked' });

    const again = await runTokenCli(['token', 'revoke', '--data-dir', dataDir, id!]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already revoked');

    const afterRevoke = await runTokenCli(['token', 'list', '--data-dir', dataDir, '--json']);
    const rows = JSON.parse(afterRevoke.stdout) as Record<string, unknown>[];
    expect(rows).toEqual([
      expect.objectContaining({ id, tenant: 'acme', clusters: ['eu-1', 'eu-2'], description: 'frankfurt edge', revoked_at: expect.any(String) }),
    ]);
    expect(afterRevoke.stdout).not.toContain(secret);
    expect(afterRevoke.stdout).not.toContain(hashToken(secret));
  });

  it('lists only one tenant with --tenant', async () => {
    await runTokenCli(['token', 'create', '--data-dir', dataDir, '--tenant', 'acme', '--cluster', 'eu-1']);
    await runTokenCli(['token', 'create', '--data-dir', dataDir, '--tenant', 'globex', '--cluster', 'us-1']);
    const listed = await runTokenCli(['token', 'list', '--data-dir', dataDir, '--tenant', 'globex', '--json']);
    expect((JSON.parse(listed.stdout) as { tenant: string }[]).map((r) => r.tenant)).toEqual(['globex']);
  });

  it('says so on stderr when there are no tokens', async () => {
    const listed = await runTokenCli(['token', 'list', '--data-dir', dataDir]);
    expect(listed).toMatchObject({ code: 0, stdout: '' });
    expect(listed.stderr).toMatch(/No tokens yet/);
  });

  it('exits 1 when revoking an id that does not exist', async () => {
    const result = await runTokenCli(['token', 'revoke', '--data-dir', dataDir, 'tok_000000000000']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/no token with id "tok_000000000000"/);
  });

  it('exits 1 when asked to revoke a config token, saying how to remove it', async () => {
    const result = await runTokenCli(['token', 'revoke', '--data-dir', dataDir, 'config:0']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/comes from the config file/);
  });

  it.each([
    { name: 'create without --tenant', args: ['token', 'create', '--cluster', 'eu-1'], stderr: /--tenant/ },
    { name: 'create without --cluster', args: ['token', 'create', '--tenant', 'acme'], stderr: /--cluster/ },
    { name: 'create with an empty --tenant', args: ['token', 'create', '--tenant', ' ', '--cluster', 'eu-1'], stderr: /--tenant must not be empty/ },
    { name: 'revoke without an id', args: ['token', 'revoke'], stderr: /missing required argument/ },
    { name: 'an unknown option', args: ['token', 'list', '--colour'], stderr: /unknown option/ },
    { name: 'an unknown subcommand', args: ['token', 'rotate'], stderr: /unknown command/ },
    { name: 'both --config and --data-dir', args: ['token', 'list', '--config', 'x.yml', '--data-dir', 'y'], stderr: /cannot be used with/ },
  ])('exits 2 on a usage error: $name', async ({ args, stderr }) => {
    const withDir = args.includes('--data-dir') || args.includes('--config') ? args : [...args, '--data-dir', dataDir];
    const result = await runTokenCli(withDir);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(stderr);
    expect(result.stdout).toBe('');
  });

  it('uses the data_dir of the file given with --config', async () => {
    const configDir = join(dir, 'from-config');
    const config = join(dir, 'tributary.yml');
    writeFileSync(config, `data_dir: ${configDir}\nbackends:\n  - name: central\n    url: http://127.0.0.1:9090/api/v1/write\n`);
    const created = await runTokenCli(['token', 'create', '--config', config, '--tenant', 'acme', '--cluster', 'eu-1']);
    expect(created.code).toBe(0);

    const viaDir = await runTokenCli(['token', 'list', '--data-dir', configDir, '--json']);
    expect(JSON.parse(viaDir.stdout)).toHaveLength(1);
  });

  it.each([
    { name: 'an invalid config file', content: 'data_dir: ./x\nbackends: []\n', stderr: /backends: must list at least one backend/ },
    { name: 'a config file that does not exist', content: undefined, stderr: /cannot read file/ },
  ])('exits 2 with the config error for $name', async ({ content, stderr }) => {
    const config = join(dir, 'tributary.yml');
    if (content !== undefined) writeFileSync(config, content);
    const result = await runTokenCli(['token', 'list', '--config', config]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(stderr);
  });

  it('exits 1 when the state database cannot be opened', async () => {
    const notADir = join(dir, 'file');
    writeFileSync(notADir, 'x');
    const result = await runTokenCli(['token', 'list', '--data-dir', notADir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cannot open the state database/);
  });
});

describe('tributary token generate', () => {
  const generate = (args: readonly string[]): Promise<CliResult> => runTokenCli(['token', 'generate', ...args]);

  /** A config with `entry` (as printed) under `tokens:`, indented by `indent` spaces, and a backend. */
  function writeConfigWith(entry: string, { indent = 0, backendUrl = 'http://127.0.0.1:9090/api/v1/write' } = {}): string {
    const config = join(dir, 'tributary.yml');
    const tokens = entry.replace(/^(?=.)/gm, ' '.repeat(indent));
    writeFileSync(
      config,
      `server:\n  listen_address: 127.0.0.1:0\ndata_dir: ${dataDir}\ntokens:\n${tokens}backends:\n  - name: central\n    url: ${backendUrl}\n`,
    );
    return config;
  }

  /** The secret as Prometheus reads a credentials_file: trimmed. */
  const secretIn = (file: string): string => readFileSync(file, 'utf8').trim();

  it('writes the secret to a new 0600 file and prints a tokens: entry holding its SHA-256', async () => {
    const tokenFile = join(dir, 'edge.token');
    const result = await generate(['--tenant', 'team-a', '--cluster', 'prod-eu-1', '--token-file', tokenFile]);
    expect(result.code).toBe(0);

    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    const content = readFileSync(tokenFile, 'utf8');
    expect(content).toMatch(/^trib_[A-Za-z0-9_-]{43}\n$/);
    const secret = content.trim();

    expect(result.stdout).toBe(`- tenant: team-a\n  clusters: [prod-eu-1]\n  token_sha256: ${hashToken(secret)}\n`);
    expect(result.stderr).toContain(tokenFile);
    expect(result.stderr).toMatch(/under "tokens:"/);
    for (const output of [result.stdout, result.stderr]) expect(output).not.toContain(secret);
  });

  it('generates a different secret every time', async () => {
    const files = [join(dir, 'one.token'), join(dir, 'two.token')];
    for (const file of files) expect((await generate(['--tenant', 'acme', '--cluster', 'eu-1', '--token-file', file])).code).toBe(0);
    expect(secretIn(files[0]!)).not.toBe(secretIn(files[1]!));
  });

  it.each([0, 2])('prints an entry that loads under tokens: (pasted with indent %i) and authenticates the secret in the file', async (indent) => {
    const tokenFile = join(dir, 'edge.token');
    const result = await generate(['--tenant', 'acme', '--cluster', 'eu-1', '--cluster', 'eu-2', '--token-file', tokenFile]);
    expect(result.code).toBe(0);
    const secret = secretIn(tokenFile);

    for (const output of [result.stdout, result.stderr]) expect(output).not.toContain(secret);

    const config = loadConfigFile(writeConfigWith(result.stdout, { indent }));
    expect(config.tokens).toEqual([{ tenant: 'acme', clusters: ['eu-1', 'eu-2'], token_sha256: hashToken(secret) }]);
    const authenticator = new Authenticator({ db: undefined, configTokens: config.tokens });
    expect(authenticator.authenticate(`Bearer ${secret}`)).toEqual({ tenant: 'acme', tokenId: 'config:0', allowedClusters: ['eu-1', 'eu-2'] });
    // The same file given as token_file (read and trimmed by the loader) is the same token.
    const viaFile = new Authenticator({ db: undefined, configTokens: [{ tenant: 'acme', clusters: ['eu-1'], token_file: tokenFile }] });
    expect(viaFile.authenticate(`Bearer ${secret}`)).toMatchObject({ tenant: 'acme' });
  });

  it.each([
    { name: 'numbers and YAML keywords', tenant: '123', clusters: ['null', 'true', '0x1F', '~', '1e5'] },
    { name: 'flow indicators and comments', tenant: 'a: b', clusters: ['a, b', '[x]', '{y}', '#z', 'p #q'] },
    { name: 'anchors, aliases, tags and quotes', tenant: '*alias', clusters: ['&anchor', '!tag', "it's", '"quoted"', '- dash'] },
  ])('quotes names that need it so they load back unchanged: $name', async ({ tenant, clusters }) => {
    const tokenFile = join(dir, 'edge.token');
    const result = await generate(['--tenant', tenant, ...clusters.flatMap((c) => ['--cluster', c]), '--token-file', tokenFile]);
    expect(result.code).toBe(0);
    const token_sha256 = hashToken(secretIn(tokenFile));
    expect(parseYaml(result.stdout)).toEqual([{ tenant, clusters, token_sha256 }]);
    expect(loadConfigFile(writeConfigWith(result.stdout)).tokens).toEqual([{ tenant, clusters, token_sha256 }]);
  });

  it('trims the tenant and clusters and drops repeated clusters, as "token create" does', async () => {
    const result = await generate(['--tenant', ' acme ', '--cluster', ' eu-1 ', '--cluster', 'eu-1', '--cluster', 'eu-2', '--token-file', join(dir, 'edge.token')]);
    expect(result.code).toBe(0);
    expect(parseYaml(result.stdout)).toEqual([expect.objectContaining({ tenant: 'acme', clusters: ['eu-1', 'eu-2'] })]);
  });

  it('refuses an existing --token-file with exit 2 and leaves it untouched', async () => {
    const tokenFile = join(dir, 'edge.token');
    writeFileSync(tokenFile, 'trib_the-token-already-deployed\n', { mode: 0o644 });
    const result = await generate(['--tenant', 'acme', '--cluster', 'eu-1', '--token-file', tokenFile]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`--token-file ${tokenFile} already exists`);
    expect(result.stdout).toBe('');
    expect(readFileSync(tokenFile, 'utf8')).toBe('trib_the-token-already-deployed\n');
    expect(statSync(tokenFile).mode & 0o777).toBe(0o644);
  });

  it('exits 1 naming the file when it cannot be created', async () => {
    const tokenFile = join(dir, 'no-such-dir', 'edge.token');
    const result = await generate(['--tenant', 'acme', '--cluster', 'eu-1', '--token-file', tokenFile]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot create --token-file ${tokenFile}`);
    expect(result.stdout).toBe('');
  });

  it.each([
    { name: 'without --token-file', args: ['--tenant', 'acme', '--cluster', 'eu-1'], stderr: /--token-file/ },
    { name: 'without --tenant', args: ['--cluster', 'eu-1', '--token-file', 'edge.token'], stderr: /--tenant/ },
    { name: 'without --cluster', args: ['--tenant', 'acme', '--token-file', 'edge.token'], stderr: /--cluster/ },
    { name: 'with an empty --tenant', args: ['--tenant', ' ', '--cluster', 'eu-1', '--token-file', 'edge.token'], stderr: /--tenant must not be empty/ },
    { name: 'with an empty --cluster', args: ['--tenant', 'acme', '--cluster', 'eu-1', '--cluster', ' ', '--token-file', 'edge.token'], stderr: /--cluster must not be empty/ },
    { name: 'with an empty --token-file', args: ['--tenant', 'acme', '--cluster', 'eu-1', '--token-file', ''], stderr: /--token-file must not be empty/ },
    { name: 'with --data-dir (it has no state)', args: ['--tenant', 'acme', '--cluster', 'eu-1', '--token-file', 'edge.token', '--data-dir', 'data'], stderr: /unknown option '--data-dir'/ },
  ])('exits 2 on a usage error $name, writing nothing', async ({ args, stderr }) => {
    // Relative paths resolve in `dir`, so a file written by mistake would show up below.
    const result = await inDir(dir, () => generate(args));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(stderr);
    expect(result.stdout).toBe('');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('needs no state database or config, and creates none: only the token file appears', async () => {
    const result = await inDir(dir, () => generate(['--tenant', 'acme', '--cluster', 'eu-1', '--token-file', 'edge.token']));
    expect(result.code).toBe(0);
    expect(readdirSync(dir)).toEqual(['edge.token']);
  });

  it('gives an entry that a running server accepts the token with, end to end', async () => {
    const tokenFile = join(dir, 'edge.token');
    const result = await generate(['--tenant', 'team-a', '--cluster', 'prod-eu-1', '--token-file', tokenFile]);
    expect(result.code).toBe(0);
    const sink = await HttpSink.start();
    try {
      const server = await startServer(writeConfigWith(result.stdout, { backendUrl: sink.url }), pino({ level: 'silent' }));
      try {
        const url = `http://${server.address}`;
        const payload = body([series({ __name__: 'up', cluster: 'prod-eu-1' }, [[1, Date.now()]])]);
        expect((await push(url, payload, secretIn(tokenFile))).status).toBe(204);
        expect((await push(url, payload, 'trib_some-other-token')).status).toBe(401);
      } finally {
        await server.close();
      }
    } finally {
      await sink.close();
    }
  });
});

/** Run `fn` with `cwd` as the working directory (vitest runs test files in forked processes, where chdir works). */
async function inDir<T>(cwd: string, fn: () => Promise<T>): Promise<T> {
  const before = process.cwd();
  process.chdir(cwd);
  try {
    return await fn();
  } finally {
    process.chdir(before);
  }
}
