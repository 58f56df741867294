import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/auth/token.js';
import { formatDuration, formatLimit } from '../../src/cli/tenant.js';
import { closeDatabase, openDatabase } from '../../src/state/db.js';
import { type TenantRecord, TenantsRepo } from '../../src/state/tenants-repo.js';
import { TokensRepo } from '../../src/state/tokens-repo.js';
import { TenantDirectory } from '../../src/tenants/tenant-directory.js';
import { runTenantCli } from '../support/run-cli.js';

let dir: string;
let dataDir: string;
let configFile: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tributary-cli-tenant-'));
  dataDir = join(dir, 'data');
  configFile = join(dir, 'tributary.yml');
  writeFileSync(
    configFile,
    [
      `data_dir: ${dataDir}`,
      'backends:',
      '  - name: central',
      '    url: http://127.0.0.1:9090/api/v1/write',
      'limits:',
      '  max_samples_per_request: 2000',
      'tenants:',
      '  team-a:',
      '    limits:',
      '      ingestion_rate: 10000',
      '      ingestion_burst_size: 4000',
      '      max_active_series: 5000',
      'tokens:',
      '  - tenant: team-cfg',
      '    clusters: [cfg-1]',
      `    token_sha256: ${hashToken('config-secret')}`,
      '',
    ].join('\n'),
  );
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Read the tenants table (and create a database token) directly, as another process would. */
function withRepo<T>(fn: (repo: TenantsRepo, tokens: TokensRepo) => T): T {
  const db = openDatabase(dataDir);
  try {
    return fn(new TenantsRepo(db), new TokensRepo(db));
  } finally {
    closeDatabase(db);
  }
}

const row = (name: string): TenantRecord | undefined => withRepo((repo) => repo.get(name));

/** The row of `field` in the LIMIT / VALUE / SOURCE table of `tenant show`, split into cells. */
function limitRow(stdout: string, field: string): string[] | undefined {
  return stdout
    .split('\n')
    .find((line) => line.startsWith(`${field} `))
    ?.split(/\s{2,}/);
}

describe('tributary tenant create / list', () => {
  it('creates a tenant, refuses it again, and lists it', async () => {
    const created = await runTenantCli(['tenant', 'create', 'team-x', '--description', 'the X team', '--data-dir', dataDir]);
    expect(created).toMatchObject({ code: 0, stderr: '' });
    expect(created.stdout).toMatch(/^Created tenant "team-x"\. Give it tokens with "tributary token create --tenant team-x --cluster <cluster>"/);
    expect(row('team-x')).toMatchObject({ name: 'team-x', description: 'the X team', disabledAtMs: undefined, overrides: {} });

    const again = await runTenantCli(['tenant', 'create', 'team-x', '--data-dir', dataDir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/error: tenant "team-x" already exists/);

    const listed = await runTenantCli(['tenant', 'list', '--data-dir', dataDir]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^NAME\s+SOURCES\s+DISABLED\s+TOKENS\s+OVERRIDES\s+DESCRIPTION\n/);
    expect(listed.stdout).toMatch(/\nteam-x\s+admin\s+-\s+0\s+-\s+the X team\n$/);
    expect(listed.stderr).toMatch(/listed only with --config/);
  });

  it('lists the tenants of the config, the table and the tokens with --config, as JSON too', async () => {
    withRepo((_repo, tokens) => tokens.create({ id: 'tok_1', hash: 'h1', tenant: 'team-tok', clusters: ['c'], createdAtMs: 1 }));
    await runTenantCli(['tenant', 'limits', 'set', 'team-a', 'max_active_series=7', '--config', configFile]);

    const table = await runTenantCli(['tenant', 'list', '--config', configFile]);
    expect(table.stdout.split('\n').slice(1, -1)).toEqual([
      expect.stringMatching(/^team-a\s+config,admin\s+-\s+0\s+max_active_series=7\s*$/),
      expect.stringMatching(/^team-cfg\s+config\s+-\s+1\s+-\s*$/),
      expect.stringMatching(/^team-tok\s+token\s+-\s+1\s+-\s*$/),
    ]);
    expect(table.stderr).toBe('');

    const json = await runTenantCli(['tenant', 'list', '--config', configFile, '--json']);
    expect(JSON.parse(json.stdout)).toEqual([
      { name: 'team-a', sources: ['config', 'admin'], disabled: false, disabled_at: null, description: null, overrides: { max_active_series: 7 }, tokens: 0 },
      { name: 'team-cfg', sources: ['config'], disabled: false, disabled_at: null, description: null, overrides: {}, tokens: 1 },
      { name: 'team-tok', sources: ['token'], disabled: false, disabled_at: null, description: null, overrides: {}, tokens: 1 },
    ]);
  });

  it('says so on stderr when there are no tenants', async () => {
    const listed = await runTenantCli(['tenant', 'list', '--data-dir', dataDir]);
    expect(listed).toMatchObject({ code: 0, stdout: '' });
    expect(listed.stderr).toMatch(/No tenants yet/);
  });
});

describe('tributary tenant show', () => {
  it('prints every effective limit with its value and source, the state and the tokens', async () => {
    withRepo((_repo, tokens) => {
      tokens.create({ id: 'tok_1', hash: 'h1', tenant: 'team-a', clusters: ['c'], createdAtMs: 1 });
      tokens.create({ id: 'tok_2', hash: 'h2', tenant: 'team-a', clusters: ['c'], createdAtMs: 2 });
      tokens.revoke('tok_2', 3);
    });
    await runTenantCli(['tenant', 'limits', 'set', 'team-a', 'future_grace=90s', 'max_body_bytes=1MiB', '--config', configFile]);

    const shown = await runTenantCli(['tenant', 'show', 'team-a', '--config', configFile]);
    expect(shown).toMatchObject({ code: 0, stderr: '' });
    expect(shown.stdout).toMatch(/^Tenant: {6}team-a\nSources: {5}config, admin, token\nStatus: {6}enabled\nDescription: -\nTokens: {6}1 active \(2 in all\)\n/);
    expect(shown.stdout).toMatch(/\nLIMIT\s+VALUE\s+SOURCE\n/);
    const table = [
      ['ingestion_rate', '10000', 'config'],
      ['ingestion_burst_size', '4000', 'config'],
      ['max_active_series', '5000', 'config'],
      ['max_samples_per_request', '2000', 'default'],
      ['request_rate', '0 (off)', 'default'],
      ['rate_limit_status', '503', 'default'],
      ['active_series_window', '20m', 'default'],
      ['future_grace', '1m30s', 'admin'],
      ['max_body_bytes', '1048576', 'admin'],
      ['max_sample_age', '0 (off)', 'default'],
    ];
    for (const [field, value, source] of table) expect(limitRow(shown.stdout, field as string)).toEqual([field, value, source]);
    expect(shown.stdout.split('\n').filter((l) => /^[a-z_]+\s{2,}\S/.test(l))).toHaveLength(19);
  });

  it('prints JSON with --json', async () => {
    const shown = await runTenantCli(['tenant', 'show', 'team-cfg', '--config', configFile, '--json']);
    expect(shown.code).toBe(0);
    const body = JSON.parse(shown.stdout) as Record<string, unknown>;
    expect(body).toMatchObject({
      name: 'team-cfg',
      sources: ['config'],
      disabled: false,
      limits: { max_samples_per_request: { value: 2000, source: 'default' }, active_series_window: { value: 1_200_000, source: 'default' } },
      tokens: [{ id: 'config:0', source: 'config', tenant: 'team-cfg', clusters: ['cfg-1'] }],
      problems: [],
    });
  });

  it('warns when stored overrides no longer fit the config', async () => {
    withRepo((repo) => {
      repo.ensure('team-a', 1);
      repo.setOverrides('team-a', { ingestion_burst_size: 10 }, 1);
    });
    const shown = await runTenantCli(['tenant', 'show', 'team-a', '--config', configFile]);
    expect(shown.code).toBe(0);
    expect(shown.stderr).toMatch(/^warning: ingestion_burst_size: must be at least max_samples_per_request \(2000\)/);
  });
});

describe('tributary tenant disable / enable', () => {
  it('disables and enables a tenant of the config, idempotently', async () => {
    const disabled = await runTenantCli(['tenant', 'disable', 'team-a', '--config', configFile]);
    expect(disabled.code).toBe(0);
    expect(disabled.stdout).toMatch(/^Disabled tenant "team-a": its writes are refused until "tributary tenant enable team-a"\. A running server applies this within about a second\.\n$/);
    const disabledAt = row('team-a')?.disabledAtMs;
    expect(disabledAt).toEqual(expect.any(Number));

    const again = await runTenantCli(['tenant', 'disable', 'team-a', '--config', configFile]);
    expect(again.stdout).toMatch(/^Tenant "team-a" was already disabled since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ; nothing changed\.\n$/);
    expect(row('team-a')?.disabledAtMs).toBe(disabledAt);

    const shown = await runTenantCli(['tenant', 'show', 'team-a', '--config', configFile]);
    expect(shown.stdout).toMatch(/\nStatus: {6}disabled since \d{4}-/);

    const enabled = await runTenantCli(['tenant', 'enable', 'team-a', '--data-dir', dataDir]);
    expect(enabled.stdout).toMatch(/^Enabled tenant "team-a": its writes are accepted again\. A running server applies this within about a second\.\n$/);
    expect(row('team-a')?.disabledAtMs).toBeUndefined();
    const enabledAgain = await runTenantCli(['tenant', 'enable', 'team-a', '--data-dir', dataDir]);
    expect(enabledAgain.stdout).toBe('Tenant "team-a" was already enabled; nothing changed.\n');
  });

  it('reaches a running server: its directory sees the change on its next poll', async () => {
    withRepo((_repo, tokens) => tokens.create({ id: 'tok_1', hash: 'h1', tenant: 'team-tok', clusters: ['c'], createdAtMs: 1 }));
    const server = openDatabase(dataDir);
    try {
      const directory = new TenantDirectory(server);
      expect(directory.isDisabled('team-tok')).toBe(false);
      expect((await runTenantCli(['tenant', 'disable', 'team-tok', '--data-dir', dataDir])).code).toBe(0);
      expect(directory.refreshIfChanged()).toBe(true);
      expect(directory.isDisabled('team-tok')).toBe(true);
    } finally {
      closeDatabase(server);
    }
  });

  it.each(['disable', 'enable'])('%s exits 1 for a tenant known nowhere, hinting at --config without it', async (action) => {
    const withoutConfig = await runTenantCli(['tenant', action, 'team-a', '--data-dir', dataDir]);
    expect(withoutConfig.code).toBe(1);
    expect(withoutConfig.stderr).toMatch(/error: unknown tenant "team-a": .*known with --config/);

    const withConfig = await runTenantCli(['tenant', action, 'ghost', '--config', configFile]);
    expect(withConfig.code).toBe(1);
    expect(withConfig.stderr).toMatch(/error: unknown tenant "ghost": it is in neither the tenants table nor any token of .*, nor the config; create it with "tributary tenant create ghost"/);
    expect(row('ghost')).toBeUndefined();
  });
});

describe('tributary tenant limits', () => {
  it('sets overrides from YAML values and reports what changed', async () => {
    const set = await runTenantCli([
      'tenant', 'limits', 'set', 'team-a',
      'max_active_series=7000', 'active_series_window=30m', 'max_decoded_bytes=10MiB', 'rate_limit_status=429', 'request_rate=2.5', 'request_burst_size=5',
      '--config', configFile,
    ]);
    expect(set).toMatchObject({ code: 0, stderr: '' });
    expect(set.stdout).toBe(
      [
        'Set limits of tenant "team-a":',
        '  request_rate: 2.5 (was 0 (off), from default)',
        '  request_burst_size: 5 (was 0 (off), from default)',
        '  rate_limit_status: 429 (was 503, from default)',
        '  max_active_series: 7000 (was 5000, from config)',
        '  active_series_window: 30m (was 20m, from default)',
        '  max_decoded_bytes: 10485760 (was 0 (off), from default)',
        'A running server applies this within about a second.',
        '',
      ].join('\n'),
    );
    expect(row('team-a')?.overrides).toEqual({
      request_rate: 2.5,
      request_burst_size: 5,
      rate_limit_status: 429,
      max_active_series: 7000,
      active_series_window: 1_800_000,
      max_decoded_bytes: 10_485_760,
    });

    // A second set merges into the stored overrides.
    await runTenantCli(['tenant', 'limits', 'set', 'team-a', 'max_active_series=8000', '--config', configFile]);
    expect(row('team-a')?.overrides).toMatchObject({ max_active_series: 8000, rate_limit_status: 429 });
    const shown = await runTenantCli(['tenant', 'show', 'team-a', '--config', configFile]);
    expect(limitRow(shown.stdout, 'max_active_series')).toEqual(['max_active_series', '8000', 'admin']);
    expect(limitRow(shown.stdout, 'ingestion_rate')).toEqual(['ingestion_rate', '10000', 'config']);
  });

  it.each([
    { name: 'without --config', args: ['team-a', 'max_active_series=1', '--data-dir', 'DATA'], stderr: /tenant limits set needs --config <file>/ },
    { name: 'an unknown field', args: ['team-a', 'max_series=1', '--config', 'CONFIG'], stderr: /invalid limits:\n {2}max_series: unknown limit field/ },
    { name: 'a bad duration', args: ['team-a', 'future_grace=soon', '--config', 'CONFIG'], stderr: /future_grace: must be a duration such as 30s, 5m or 1h30m \(got "soon"\)/ },
    { name: 'a negative number', args: ['team-a', 'max_active_series=-3', '--config', 'CONFIG'], stderr: /max_active_series: .*>=\s?0/ },
    { name: 'no "="', args: ['team-a', 'max_active_series', '--config', 'CONFIG'], stderr: /"max_active_series" is not field=value/ },
    { name: 'an empty value', args: ['team-a', 'max_active_series=', '--config', 'CONFIG'], stderr: /max_active_series: no value; to remove an override use "tributary tenant limits clear <name> max_active_series"/ },
    { name: 'a field given twice', args: ['team-a', 'request_rate=1', 'request_rate=2', '--config', 'CONFIG'], stderr: /request_rate is given twice/ },
    { name: 'an unparsable value', args: ['team-a', 'max_active_series=[1', '--config', 'CONFIG'], stderr: /max_active_series: cannot parse "\[1" as a YAML value/ },
    {
      name: 'limits that cannot work with the config',
      args: ['team-a', 'ingestion_burst_size=10', '--config', 'CONFIG'],
      stderr: /could not work with the config's:\n {2}ingestion_burst_size: must be at least max_samples_per_request \(2000\)/,
    },
    { name: 'no assignment', args: ['team-a', '--config', 'CONFIG'], stderr: /missing required argument/ },
  ])('set exits 2 for $name, storing nothing', async ({ args, stderr }) => {
    const resolved = args.map((a) => (a === 'CONFIG' ? configFile : a === 'DATA' ? dataDir : a));
    const result = await runTenantCli(['tenant', 'limits', 'set', ...resolved]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(stderr);
    expect(result.stdout).toBe('');
    expect(row('team-a')).toBeUndefined();
  });

  it('set exits 1 for a tenant known nowhere', async () => {
    const result = await runTenantCli(['tenant', 'limits', 'set', 'ghost', 'max_active_series=1', '--config', configFile]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/error: unknown tenant "ghost"/);
  });

  it('clears some overrides, then all of them', async () => {
    await runTenantCli(['tenant', 'limits', 'set', 'team-a', 'max_active_series=1', 'future_grace=1m', 'request_rate=1', 'request_burst_size=1', '--config', configFile]);

    const some = await runTenantCli(['tenant', 'limits', 'clear', 'team-a', 'max_active_series', 'future_grace', '--data-dir', dataDir]);
    expect(some.code).toBe(0);
    expect(some.stdout).toBe(
      'Cleared the limit overrides max_active_series, future_grace of tenant "team-a": the config\'s limits apply to them again. A running server applies this within about a second.\n',
    );
    expect(row('team-a')?.overrides).toEqual({ request_rate: 1, request_burst_size: 1 });

    const all = await runTenantCli(['tenant', 'limits', 'clear', 'team-a', '--data-dir', dataDir]);
    expect(all.stdout).toMatch(/^Cleared the limit overrides request_rate, request_burst_size of tenant "team-a"/);
    expect(row('team-a')?.overrides).toEqual({});

    const nothing = await runTenantCli(['tenant', 'limits', 'clear', 'team-a', '--data-dir', dataDir]);
    expect(nothing).toMatchObject({ code: 0, stdout: 'Tenant "team-a" had no limit overrides; nothing changed.\n' });
  });

  it('refuses (exit 2) a clear that leaves limits that cannot work, when --config is given', async () => {
    await runTenantCli(['tenant', 'limits', 'set', 'team-cfg', 'request_rate=1', 'request_burst_size=1', '--config', configFile]);
    const result = await runTenantCli(['tenant', 'limits', 'clear', 'team-cfg', 'request_burst_size', '--config', configFile]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/request_burst_size: must be at least 1 when request_rate is set/);
    expect(row('team-cfg')?.overrides).toEqual({ request_rate: 1, request_burst_size: 1 });
  });

  it('resets a malformed limits column with a clear of all fields', async () => {
    withRepo((repo) => {
      repo.ensure('team-a', 1);
    });
    const db = openDatabase(dataDir);
    db.prepare("UPDATE tenants SET limits = 'garbage' WHERE name = 'team-a'").run();
    closeDatabase(db);
    expect(() => row('team-a')).toThrow(/tenant "team-a" has a malformed limits column/);

    const result = await runTenantCli(['tenant', 'limits', 'clear', 'team-a', '--data-dir', dataDir]);
    expect(result).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Reset the malformed limit overrides of tenant "team-a"/) });
    expect(row('team-a')?.overrides).toEqual({});
  });

  it.each([
    { name: 'an unknown field', args: ['team-a', 'max_series', '--data-dir', 'DATA'], code: 2, stderr: /unknown limit field\(s\) max_series; the limit fields are ingestion_rate/ },
    { name: 'a tenant known nowhere', args: ['ghost', '--data-dir', 'DATA'], code: 1, stderr: /error: unknown tenant "ghost"/ },
  ])('clear exits $code for $name', async ({ args, code, stderr }) => {
    const result = await runTenantCli(['tenant', 'limits', 'clear', ...args.map((a) => (a === 'DATA' ? dataDir : a))]);
    expect(result.code).toBe(code);
    expect(result.stderr).toMatch(stderr);
  });
});

describe('tributary tenant: usage errors', () => {
  it.each([
    { name: 'show without --config', args: ['tenant', 'show', 'team-a', '--data-dir', 'DATA'], code: 2, stderr: /tenant show needs --config <file>/ },
    { name: 'show of a tenant known nowhere', args: ['tenant', 'show', 'ghost', '--config', 'CONFIG'], code: 1, stderr: /error: unknown tenant "ghost"/ },
    { name: 'create with an invalid name', args: ['tenant', 'create', 'a/b', '--data-dir', 'DATA'], code: 2, stderr: /invalid tenant name "a\/b": use 1 to 128 of the characters/ },
    { name: 'create without a name', args: ['tenant', 'create', '--data-dir', 'DATA'], code: 2, stderr: /missing required argument 'name'/ },
    { name: 'an unknown subcommand', args: ['tenant', 'delete', 'x'], code: 2, stderr: /unknown command 'delete'/ },
    { name: 'an unknown option', args: ['tenant', 'list', '--colour', '--data-dir', 'DATA'], code: 2, stderr: /unknown option '--colour'/ },
    { name: 'an unknown limits subcommand', args: ['tenant', 'limits', 'reset', 'x'], code: 2, stderr: /unknown command 'reset'/ },
    { name: 'both --config and --data-dir', args: ['tenant', 'list', '--config', 'CONFIG', '--data-dir', 'DATA'], code: 2, stderr: /cannot be used with/ },
  ])('$name exits $code', async ({ args, code, stderr }) => {
    const result = await runTenantCli(args.map((a) => (a === 'DATA' ? dataDir : a === 'CONFIG' ? configFile : a)));
    expect(result.code).toBe(code);
    expect(result.stderr).toMatch(stderr);
    expect(result.stdout).toBe('');
  });

  it('exits 2 with the config error for an invalid config file', async () => {
    writeFileSync(configFile, 'backends: []\n');
    const result = await runTenantCli(['tenant', 'show', 'team-a', '--config', configFile]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/backends: must list at least one backend/);
  });
});

describe('limit formatting', () => {
  it.each([
    [0, '0s'],
    [250, '250ms'],
    [90_000, '1m30s'],
    [1_200_000, '20m'],
    [5_400_000, '1h30m'],
    [86_400_000 + 1000, '1d1s'],
    [604_800_000, '1w'],
  ])('formats %i ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it.each([
    ['max_active_series', 0, '0 (off)'],
    ['max_sample_age', 0, '0 (off)'],
    ['future_grace', 0, '0s'],
    ['future_grace', 600_000, '10m'],
    ['max_body_bytes', 1_048_576, '1048576'],
    ['rate_limit_status', 429, '429'],
  ] as const)('formats %s = %i as %s', (field, value, text) => {
    expect(formatLimit(field, value)).toBe(text);
  });
});
