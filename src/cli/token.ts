/**
 * `tributary token create|list|revoke`: manage the tokens stored in the state database.
 * `tributary token generate`: make a token for the config file's `tokens:` instead.
 *
 * A new secret is printed exactly once, alone on stdout so it can be redirected into a file; only
 * its SHA-256 is stored. `list` never prints a secret or a hash. A running server sees a new or
 * revoked token within about a second (its lookup cache TTL); no restart is needed.
 *
 * `generate` touches no state database and no config: where several replicas each keep their own
 * database but load one config (a Kubernetes ConfigMap), a token created in one replica's database
 * would be unknown to the others, so the token has to be declared in the config. The secret goes
 * only into a new file (for the edge's credentials_file); stdout gets the `tokens:` entry with its
 * hash, which is safe to commit.
 *
 * Exit codes follow DESIGN.md: 0 ok, 1 runtime failure, 2 usage or config error. Usage errors end
 * through commander (re-coded to 2 by `tributaryExitOverride`); runtime failures throw `CliExit`;
 * config errors propagate as `ConfigError`. main.ts turns each into the process exit code.
 */
import { closeSync, fchmodSync, fsyncSync, openSync, unlinkSync, writeFileSync } from 'node:fs';
import { type Command, CommanderError, Option } from 'commander';
import { Document, isSeq } from 'yaml';
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

interface GenerateOptions {
  readonly tenant: string;
  readonly cluster: readonly string[];
  readonly tokenFile: string;
}

interface ListOptions extends StateOptions {
  readonly tenant?: string;
  readonly json?: boolean;
}

/**
 * Add `token create|generate|list|revoke` to `program`. Configure the program's output (`configureOutput`,
 * `showHelpAfterError`) before calling this: subcommands copy it when they are created. The token
 * commands install `tributaryExitOverride` themselves, so the caller of `parseAsync` must catch:
 * `CommanderError` (its `exitCode`), `CliExit` (print the message, its `exitCode`) and `ConfigError`
 * (print, exit 2).
 */
export function registerTokenCommands(program: Command): void {
  const token = program
    .command('token')
    .description('manage the tokens edge Prometheus instances authenticate with (stored as hashes in the state database, or in the config file: see "generate")')
    .exitOverride(tributaryExitOverride);

  withStateOptions(
    withTenantAndClusters(token.command('create'))
      .description('create a token; prints the secret once on stdout')
      .exitOverride(tributaryExitOverride)
      .option('--description <text>', 'a note for operators (where the token is deployed)'),
  ).action((options: CreateOptions, command: Command) => createToken(options, command));

  // No withStateOptions: this command must work where there is no data dir and no config at all.
  withTenantAndClusters(token.command('generate'))
    .description(
      'generate a token for the config file (no state database): writes the secret to a new file, prints the "tokens:" entry with its SHA-256',
    )
    .exitOverride(tributaryExitOverride)
    .requiredOption('--token-file <file>', 'a new file (mode 0600) to write the secret to; an existing file is never overwritten')
    .action((options: GenerateOptions, command: Command) => generateConfigToken(options, command));

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

/** `--tenant T --cluster C [--cluster C2 ...]`, as `create` and `generate` both take them. */
function withTenantAndClusters(command: Command): Command {
  return command
    .requiredOption('--tenant <tenant>', 'the tenant whose data this token writes')
    .addOption(
      new Option('--cluster <cluster>', 'a value of the cluster label this token may write (repeat for several)').argParser(collect).makeOptionMandatory(),
    );
}

function collect(value: string, previous: readonly string[] | undefined): readonly string[] {
  return [...(previous ?? []), value];
}

/** `--tenant` and `--cluster` as `create` and `generate` both take them: trimmed, non-empty, clusters deduplicated. */
function tenantAndClusters(options: { readonly tenant: string; readonly cluster: readonly string[] }, command: Command): { tenant: string; clusters: string[] } {
  const tenant = options.tenant.trim();
  if (tenant === '') usageError(command, 'option --tenant must not be empty');
  const clusters = [...new Set(options.cluster.map((c) => c.trim()))];
  if (clusters.some((c) => c === '')) usageError(command, 'option --cluster must not be empty');
  return { tenant, clusters };
}

/** How an edge uses a token, printed after creating one. */
const REMOTE_WRITE_HINT = [
  '  remote_write:',
  '    - url: https://<tributary>/api/v1/write',
  '      authorization:',
  '        credentials_file: /etc/prometheus/tributary-token',
];

function createToken(options: CreateOptions, command: Command): void {
  const { tenant, clusters } = tenantAndClusters(options, command);
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
      ...REMOTE_WRITE_HINT,
      '',
    ].join('\n'),
  );
}

function generateConfigToken(options: GenerateOptions, command: Command): void {
  const { tenant, clusters } = tenantAndClusters(options, command);
  const path = options.tokenFile;
  if (path.trim() === '') usageError(command, 'option --token-file must not be empty');

  const secret = generateToken();
  writeNewSecretFile(path, secret);

  // The authenticator hashes a token_file's content after trimming it, and the presented token as
  // it is: the file holds exactly `secret` plus a newline, so hashToken(secret) matches both ways.
  const entry = new Document([{ tenant, clusters, token_sha256: hashToken(secret) }]);
  // Flow style (`clusters: [a, b]`) like the README's examples; the yaml package still quotes any
  // name that would otherwise read back as another value (`null`, `123`, `a, b`…).
  const clusterNode = entry.getIn([0, 'clusters'], true);
  if (isSeq(clusterNode)) clusterNode.flow = true;

  const io = outputOf(command);
  io.out(entry.toString({ flowCollectionPadding: false }));
  io.err(
    [
      `Wrote a new token for tenant "${tenant}" (clusters: ${clusters.join(', ')}) to ${path} (mode 0600).`,
      'Add the entry above under "tokens:" in the config every replica loads, then reload (SIGHUP) or restart tributary.',
      `Give ${path} to the edge (e.g. as a Kubernetes Secret) and point Prometheus's remote_write at it:`,
      ...REMOTE_WRITE_HINT,
      '',
    ].join('\n'),
  );
}

/**
 * Create `path` and write `secret` and a newline to it, mode 0600. Never overwrites: `wx` makes
 * "does it exist" and "create it" one atomic step, so a file that appears meanwhile (or a symlink
 * planted there) is refused rather than clobbered or followed. Messages name the file, never the
 * secret.
 */
function writeNewSecretFile(path: string, secret: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (err) {
    const error = err as NodeJS.ErrnoException;
    if (error.code === 'EEXIST') {
      // Exit 2 like a usage error, but without the help text: the options were right, only the
      // file is in the way, and overwriting it could destroy the only copy of another token.
      throw new CliExit(EXIT_USAGE, `error: --token-file ${path} already exists; tributary never overwrites a token file: choose a new path or remove it first`);
    }
    throw new CliExit(EXIT_RUNTIME, `error: cannot create --token-file ${path}: ${error.message}`);
  }
  try {
    // The mode given to open is reduced by the umask; set it outright so the file is exactly 0600.
    fchmodSync(fd, 0o600);
    // writeFileSync on a descriptor loops until everything is written (writeSync may write less).
    writeFileSync(fd, `${secret}\n`);
    // The hash is printed only after this returns: it must never describe a file that was lost.
    fsyncSync(fd);
  } catch (err) {
    // 'wx' guarantees the file is ours to remove; left behind, a partial one would look like a
    // token file while matching no hash. Cleanup failures must not hide the original error.
    ignoreErrors(() => closeSync(fd));
    ignoreErrors(() => unlinkSync(path));
    throw new CliExit(EXIT_RUNTIME, `error: cannot write --token-file ${path}: ${(err as Error).message}`);
  }
  closeSync(fd);
}

function ignoreErrors(fn: () => void): void {
  try {
    fn();
  } catch {
    // Best effort only: see the caller.
  }
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
