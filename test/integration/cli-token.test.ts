import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Authenticator } from '../../src/auth/authenticator.js';
import { hashToken } from '../../src/auth/token.js';
import { ForbiddenError } from '../../src/errors.js';
import { closeDatabase, openDatabase } from '../../src/state/db.js';
import { runTokenCli } from '../support/run-cli.js';

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
