/**
 * `tributary token create|list|revoke`: manage the tokens stored in the state database.
 *
 * A new secret is printed exactly once, alone on stdout so it can be redirected into a file; only
 * its SHA-256 is stored. `list` never prints a secret or a hash. A running server sees a new or
 * revoked token within about a second (its lookup cache TTL); no restart is needed.
 *
 * Exit codes follow DESIGN.md: 0 ok, 1 runtime failure, 2 usage or config error. Usage errors end
 * through commander (re-coded to 2 by `tributaryExitOverride`); runtime failures throw `CliExit`;
 * config errors propagate as `ConfigError`. main.ts turns each into the process exit code.
 */
import { type Command, CommanderError, Option } from 'commander';
import { generateToken, generateTokenId, hashToken } from '../auth/token.js';
import { type TokenRecord, TokensRepo } from '../state/tokens-repo.js';
import { CliExit, EXIT_OK, EXIT_RUNTIME, EXIT_USAGE } from './exit.js';
import { formatTable, outputOf } from './output.js';
import { formatTime, isoOrNull, type StateOptions, stateSource, usageError, withDatabase, withStateOptions } from './state.js';

/**
 * Commander's exit callback for tributary: commander reports its own usage errors (unknown option,
 * missing argument…) with exit code 1; tributary's contract says 2. Help and version keep 0; errors
 * raised by tributary's actions keep their own code. Always throws the (re-coded) `CommanderError`,
 * so whoever calls `parseAsync` sets the process exit code from `err.exitCode`.
 */
export function tributaryExitOverride(err: CommanderError): never {
  const isCommanderUsageError = err.code.startsWith('commander.') && err.exitCode !== EXIT_OK;
  if (isCommanderUsageError && err.exitCode !== EXIT_USAGE) {
    throw new CommanderError(EXIT_USAGE, err.code, err.message);
  }
  throw err;
}

interface CreateOptions extends StateOptions {
  readonly tenant: string;
  readonly cluster: readonly string[];
  readonly description?: string;
}

interface ListOptions extends StateOptions {
  readonly tenant?: string;
  readonly json?: boolean;
}

/**
 * Add `token create|list|revoke` to `program`. Configure the program's output (`configureOutput`,
 * `showHelpAfterError`) before calling this: subcommands copy it when they are created. The token
 * commands install `tributaryExitOverride` themselves, so the caller of `parseAsync` must catch:
 * `CommanderError` (its `exitCode`), `CliExit` (print the message, its `exitCode`) and `ConfigError`
 * (print, exit 2).
 */
export function registerTokenCommands(program: Command): void {
  const token = program
    .command('token')
    .description('manage the tokens edge Prometheus instances authenticate with (stored as hashes in the state database)')
    .exitOverride(tributaryExitOverride);

  withStateOptions(
    token
      .command('create')
      .description('create a token; prints the secret once on stdout')
      .exitOverride(tributaryExitOverride)
      .requiredOption('--tenant <tenant>', 'the tenant whose data this token writes')
      .addOption(
        new Option('--cluster <cluster>', 'a value of the cluster label this token may write (repeat for several)')
          .argParser(collect)
          .makeOptionMandatory(),
      )
      .option('--description <text>', 'a note for operators (where the token is deployed)'),
  ).action((options: CreateOptions, command: Command) => createToken(options, command));

  withStateOptions(
    token
      .command('list')
      .description('list tokens (never their secrets)')
      .exitOverride(tributaryExitOverride)
      .option('--tenant <tenant>', 'only this tenant')
      .option('--json', 'print JSON instead of a table'),
  ).action((options: ListOptions, command: Command) => listTokens(options, command));

  withStateOptions(
    token
      .command('revoke')
      .description('revoke a token; running servers refuse it (403) within about a second')
      .exitOverride(tributaryExitOverride)
      .argument('<id>', 'the token id shown by "token create" and "token list" (tok_…)'),
  ).action((id: string, options: StateOptions, command: Command) => revokeToken(id, options, command));
}

function collect(value: string, previous: readonly string[] | undefined): readonly string[] {
  return [...(previous ?? []), value];
}

function createToken(options: CreateOptions, command: Command): void {
  const tenant = options.tenant.trim();
  if (tenant === '') usageError(command, 'option --tenant must not be empty');
  const clusters = [...new Set(options.cluster.map((c) => c.trim()))];
  if (clusters.some((c) => c === '')) usageError(command, 'option --cluster must not be empty');
  const description = options.description?.trim() || undefined;

  const secret = generateToken();
  const record = withDatabase(options, (db) =>
    new TokensRepo(db).create({ id: generateTokenId(), hash: hashToken(secret), tenant, clusters, description, createdAtMs: Date.now() }),
  );

  const io = outputOf(command);
  io.out(`${secret}\n`);
  io.err(
    [
      `Created token ${record.id} for tenant "${record.tenant}" (clusters: ${record.clusters.join(', ')}).`,
      'The secret above is shown only this once: tributary keeps only its SHA-256 hash.',
      "Store it in a file on the edge and point Prometheus's remote_write at it:",
      '  remote_write:',
      '    - url: https://<tributary>/api/v1/write',
      '      authorization:',
      '        credentials_file: /etc/prometheus/tributary-token',
      '',
    ].join('\n'),
  );
}

function listTokens(options: ListOptions, command: Command): void {
  const records = withDatabase(options, (db) => new TokensRepo(db).list({ tenant: options.tenant }));
  const io = outputOf(command);
  if (options.json === true) {
    io.out(`${JSON.stringify(records.map(toJson), null, 2)}\n`);
    return;
  }
  if (records.length === 0) {
    io.err(options.tenant === undefined ? 'No tokens yet; create one with "tributary token create".\n' : `No tokens for tenant "${options.tenant}".\n`);
    return;
  }
  io.out(
    formatTable(
      ['ID', 'TENANT', 'CLUSTERS', 'CREATED', 'LAST USED', 'REVOKED', 'DESCRIPTION'],
      records.map((r) => [
        r.id,
        r.tenant,
        r.clusters.join(','),
        formatTime(r.createdAtMs),
        formatTime(r.lastUsedAtMs),
        formatTime(r.revokedAtMs),
        r.description ?? '',
      ]),
    ),
  );
}

function revokeToken(id: string, options: StateOptions, command: Command): void {
  if (id.startsWith('config:')) {
    throw new CliExit(EXIT_RUNTIME, `error: token ${id} comes from the config file: remove it from "tokens:" and reload tributary (SIGHUP)`);
  }
  const result = withDatabase(options, (db) => new TokensRepo(db).revoke(id, Date.now()));
  const io = outputOf(command);
  switch (result.outcome) {
    case 'revoked':
      io.out(`Revoked token ${id} (tenant "${result.record.tenant}"). Running servers refuse it within about a second.\n`);
      return;
    case 'already_revoked':
      io.out(`Token ${id} was already revoked at ${formatTime(result.record.revokedAtMs)}; nothing changed.\n`);
      return;
    case 'not_found':
      throw new CliExit(EXIT_RUNTIME, `error: no token with id "${id}" in ${stateSource(options)}; "tributary token list" shows the ids`);
  }
}

function toJson(r: TokenRecord): Record<string, unknown> {
  return {
    id: r.id,
    tenant: r.tenant,
    clusters: r.clusters,
    description: r.description ?? null,
    created_at: isoOrNull(r.createdAtMs),
    last_used_at: isoOrNull(r.lastUsedAtMs),
    revoked_at: isoOrNull(r.revokedAtMs),
  };
}
