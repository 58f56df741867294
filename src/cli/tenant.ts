/**
 * `tributary tenant list|create|show|disable|enable|limits set|limits clear`: manage tenants at run
 * time, directly in the state database (as the token commands do), so it works whether or not a
 * server runs. A running server sees every change within about a second: it polls SQLite's
 * `data_version`, which another process's commit bumps.
 *
 * `show` and `limits set` need `--config`: the effective limits are the config's, overridden field
 * by field by the admin overrides, and a new override is checked against that merge.
 *
 * Exit codes: 0 ok, 1 runtime failure (an unknown tenant, a database that cannot be opened), 2 usage
 * or config error (a bad field or value, limits that cannot work together, a missing --config).
 */
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import type { Config } from '../config/schema.js';
import type { TenantLimitOverrides, TenantLimits } from '../limits/limits.js';
import type { Database } from '../state/db.js';
import { isLimitField, LIMIT_FIELDS, TenantsRepo } from '../state/tenants-repo.js';
import { applyOverrides, checkOverrides, DURATION_FIELDS, effectiveLimits, parseLimitOverrides } from '../tenants/effective-limits.js';
import { changeOverrides, setTenantDisabled } from '../tenants/tenant-changes.js';
import {
  activeTokenCount,
  type KnownTenant,
  TENANT_NAME_RE,
  TENANT_NAME_RULE,
  TenantCatalog,
  tenantDetailJson,
  tenantSummaryJson,
} from '../tenants/tenant-catalog.js';
import { CliExit, EXIT_RUNTIME, EXIT_USAGE } from './exit.js';
import { formatTable, outputOf } from './output.js';
import { configOf, formatTime, type StateOptions, stateSource, usageError, withDatabase, withStateOptions } from './state.js';
import { tributaryExitOverride } from './token.js';

const APPLIES_SOON = 'A running server applies this within about a second.';

/** Fields where 0 means "no limit" (for the others 0 is a real value: no grace, a status never 0). */
const ZERO_IS_OFF: ReadonlySet<keyof TenantLimits> = new Set(
  LIMIT_FIELDS.filter((f) => f !== 'rate_limit_status' && f !== 'active_series_window' && f !== 'future_grace'),
);

interface JsonOptions extends StateOptions {
  readonly json?: boolean;
}

interface CreateOptions extends StateOptions {
  readonly description?: string;
}

/**
 * Add `tenant ...` to `program` (configure the program's output before, as for the token commands).
 * The caller of `parseAsync` catches `CommanderError`, `CliExit` and `ConfigError`.
 */
export function registerTenantCommands(program: Command): void {
  const tenant = program
    .command('tenant')
    .description('manage tenants at run time: disable or enable them, override their limits (stored in the state database)')
    .exitOverride(tributaryExitOverride);

  withStateOptions(
    tenant
      .command('list')
      .description('list the tenants of the tenants table and of tokens (and of the config with --config)')
      .exitOverride(tributaryExitOverride)
      .option('--json', 'print JSON instead of a table'),
  ).action((options: JsonOptions, command: Command) => listTenants(options, command));

  withStateOptions(
    tenant
      .command('create')
      .description('create a tenant in the tenants table')
      .exitOverride(tributaryExitOverride)
      .argument('<name>', `the tenant's name: ${TENANT_NAME_RULE}`)
      .option('--description <text>', 'a note for operators'),
  ).action((name: string, options: CreateOptions, command: Command) => createTenant(name, options, command));

  withStateOptions(
    tenant
      .command('show')
      .description('show a tenant: disabled or not, tokens, and every effective limit with its source (needs --config)')
      .exitOverride(tributaryExitOverride)
      .argument('<name>', 'the tenant')
      .option('--json', 'print JSON'),
  ).action((name: string, options: JsonOptions, command: Command) => showTenant(name, options, command));

  for (const action of ['disable', 'enable'] as const) {
    withStateOptions(
      tenant
        .command(action)
        .description(action === 'disable' ? "refuse the tenant's writes until it is enabled again" : 'accept the tenant\'s writes again')
        .exitOverride(tributaryExitOverride)
        .argument('<name>', 'the tenant'),
    ).action((name: string, options: StateOptions, command: Command) => setDisabled(name, action, options, command));
  }

  const limits = tenant
    .command('limits')
    .description("override a tenant's limits at run time (they win over the config file's)")
    .exitOverride(tributaryExitOverride);

  withStateOptions(
    limits
      .command('set')
      .description('set limit overrides, e.g. max_active_series=100000 active_series_window=30m (needs --config)')
      .exitOverride(tributaryExitOverride)
      .argument('<name>', 'the tenant')
      .argument('<field=value...>', 'limit fields with YAML values, as in the config file (20m, 10MiB, 429)'),
  ).action((name: string, assignments: string[], options: StateOptions, command: Command) => setLimits(name, assignments, options, command));

  withStateOptions(
    limits
      .command('clear')
      .description("clear limit overrides (all, or the fields given): the config's limits apply again")
      .exitOverride(tributaryExitOverride)
      .argument('<name>', 'the tenant')
      .argument('[field...]', 'only these fields'),
  ).action((name: string, fields: string[], options: StateOptions, command: Command) => clearLimits(name, fields, options, command));
}

// ---- list, create, show ----

function listTenants(options: JsonOptions, command: Command): void {
  const config = configOf(options);
  const tenants = withDatabase(options, (db) => new TenantCatalog(db, config).list(), config);
  const io = outputOf(command);
  if (options.json === true) {
    io.out(`${JSON.stringify(tenants.map(tenantSummaryJson), null, 2)}\n`);
    return;
  }
  if (config === undefined) io.err('Tenants of the config file are listed only with --config.\n');
  if (tenants.length === 0) {
    io.err('No tenants yet; create one with "tributary tenant create <name>" or "tributary token create --tenant <name>".\n');
    return;
  }
  io.out(
    formatTable(
      ['NAME', 'SOURCES', 'DISABLED', 'TOKENS', 'OVERRIDES', 'DESCRIPTION'],
      tenants.map((t) => [
        t.name,
        t.sources.join(','),
        formatTime(t.record?.disabledAtMs),
        String(activeTokenCount(t)),
        formatOverrides(t.record?.overrides ?? {}),
        t.record?.description ?? '',
      ]),
    ),
  );
}

function createTenant(name: string, options: CreateOptions, command: Command): void {
  if (!TENANT_NAME_RE.test(name)) usageError(command, `invalid tenant name "${name}": use ${TENANT_NAME_RULE}`);
  const description = options.description?.trim() || undefined;
  const result = withDatabase(options, (db) => new TenantsRepo(db).create(name, description, Date.now()));
  if (result.outcome === 'already_exists') {
    throw new CliExit(EXIT_RUNTIME, `error: tenant "${name}" already exists in ${stateSource(options)} (created ${formatTime(result.record.createdAtMs)})`);
  }
  outputOf(command).out(`Created tenant "${name}". Give it tokens with "tributary token create --tenant ${name} --cluster <cluster>".\n`);
}

function showTenant(name: string, options: JsonOptions, command: Command): void {
  const config = requireConfig(options, command, 'tenant show');
  const tenant = withDatabase(options, (db) => mustFind(db, config, name, options), config);
  const io = outputOf(command);
  if (options.json === true) {
    io.out(`${JSON.stringify(tenantDetailJson(tenant, config), null, 2)}\n`);
    return;
  }
  io.out(describeTenant(tenant, config));
  for (const problem of checkOverrides(config, name, tenant.record?.overrides)) {
    io.err(`warning: ${problem} (the admin overrides no longer fit this config)\n`);
  }
}

function describeTenant(tenant: KnownTenant, config: Config): string {
  const disabledAt = tenant.record?.disabledAtMs;
  const total = tenant.tokens.length;
  const header = [
    `Tenant:      ${tenant.name}`,
    `Sources:     ${tenant.sources.join(', ')}`,
    `Status:      ${disabledAt === undefined ? 'enabled' : `disabled since ${formatTime(disabledAt)}`}`,
    `Description: ${tenant.record?.description ?? '-'}`,
    `Tokens:      ${activeTokenCount(tenant)} active${total > 0 ? ` (${total} in all)` : ''}`,
    '',
  ].join('\n');
  const effective = effectiveLimits(config, tenant.name, tenant.record?.overrides);
  const rows = LIMIT_FIELDS.map((f) => [f, formatLimit(f, effective.limits[f]), effective.source[f]]);
  return `${header}\n${formatTable(['LIMIT', 'VALUE', 'SOURCE'], rows)}`;
}

// ---- disable, enable ----

function setDisabled(name: string, action: 'disable' | 'enable', options: StateOptions, command: Command): void {
  const config = configOf(options);
  const result = withDatabase(
    options,
    (db) => {
      mustFind(db, config, name, options);
      return setTenantDisabled(db, name, action === 'disable', Date.now());
    },
    config,
  );
  const io = outputOf(command);
  if (result.outcome === 'not_found') throw new Error(`BUG: tenant "${name}" has no row right after ensure()`);
  if (result.outcome === 'unchanged') {
    const state = action === 'disable' ? `disabled since ${formatTime(result.record.disabledAtMs)}` : 'enabled';
    io.out(`Tenant "${name}" was already ${state}; nothing changed.\n`);
    return;
  }
  io.out(
    action === 'disable'
      ? `Disabled tenant "${name}": its writes are refused until "tributary tenant enable ${name}". ${APPLIES_SOON}\n`
      : `Enabled tenant "${name}": its writes are accepted again. ${APPLIES_SOON}\n`,
  );
}

// ---- limits ----

function setLimits(name: string, assignments: readonly string[], options: StateOptions, command: Command): void {
  const config = requireConfig(options, command, 'tenant limits set');
  const parsed = parseLimitOverrides(parseAssignments(assignments, command));
  if (!parsed.ok) usageError(command, `invalid limits:\n  ${parsed.problems.join('\n  ')}`);
  const { before, after } = withDatabase(
    options,
    (db) => {
      mustFind(db, config, name, options);
      return writeOverrides(db, config, name, (stored) => applyOverrides(stored, parsed.set, []));
    },
    config,
  );
  const now = effectiveLimits(config, name, after);
  const was = effectiveLimits(config, name, before);
  const lines = LIMIT_FIELDS.filter((f) => parsed.set[f] !== undefined).map(
    (f) => `  ${f}: ${formatLimit(f, now.limits[f])} (was ${formatLimit(f, was.limits[f])}, from ${was.source[f]})`,
  );
  outputOf(command).out(`Set limits of tenant "${name}":\n${lines.join('\n')}\n${APPLIES_SOON}\n`);
}

function clearLimits(name: string, fields: readonly string[], options: StateOptions, command: Command): void {
  const unknown = fields.filter((f) => !isLimitField(f));
  if (unknown.length > 0) usageError(command, `unknown limit field(s) ${unknown.join(', ')}; the limit fields are ${LIMIT_FIELDS.join(', ')}`);
  const clear = fields.filter(isLimitField);
  const config = configOf(options);
  const { before, after, malformed } = withDatabase(
    options,
    (db) => {
      // has() first: a row whose limits column is malformed is still known, and a clear of all fields resets it.
      if (!new TenantsRepo(db).has(name)) mustFind(db, config, name, options);
      if (clear.length === 0) return writeOverrides(db, config, name, () => ({}), { resetMalformed: true });
      return writeOverrides(db, config, name, (stored) => applyOverrides(stored, {}, clear));
    },
    config,
  );
  const removed = LIMIT_FIELDS.filter((f) => before[f] !== undefined && after[f] === undefined);
  const io = outputOf(command);
  if (malformed) {
    io.out(`Reset the malformed limit overrides of tenant "${name}": the config's limits apply again. ${APPLIES_SOON}\n`);
    return;
  }
  if (removed.length === 0) {
    io.out(`Tenant "${name}" had no ${clear.length === 0 ? 'limit overrides' : `overrides of ${clear.join(', ')}`}; nothing changed.\n`);
    return;
  }
  io.out(`Cleared the limit overrides ${removed.join(', ')} of tenant "${name}": the config's limits apply to them again. ${APPLIES_SOON}\n`);
}

/** changeOverrides, checked against the config when there is one; refused limits end with exit 2. */
function writeOverrides(
  db: Database,
  config: Config | undefined,
  name: string,
  change: (stored: TenantLimitOverrides) => TenantLimitOverrides,
  options: { readonly resetMalformed?: boolean } = {},
): { before: TenantLimitOverrides; after: TenantLimitOverrides; malformed: boolean } {
  const check = (next: TenantLimitOverrides) => (config === undefined ? [] : checkOverrides(config, name, next));
  const result = changeOverrides(db, name, change, check, Date.now(), options);
  if (!result.ok) {
    throw new CliExit(EXIT_USAGE, `error: these limits of tenant "${name}" could not work with the config's:\n  ${result.problems.join('\n  ')}`);
  }
  return result;
}

/** `field=value` arguments → an object of YAML-parsed values (numbers become numbers, "20m" stays a string). */
function parseAssignments(assignments: readonly string[], command: Command): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const assignment of assignments) {
    const eq = assignment.indexOf('=');
    const field = eq === -1 ? '' : assignment.slice(0, eq).trim();
    if (field === '') usageError(command, `"${assignment}" is not field=value (e.g. max_active_series=100000)`);
    if (Object.hasOwn(out, field)) usageError(command, `${field} is given twice`);
    const value = parseValue(assignment.slice(eq + 1), field, command);
    Object.defineProperty(out, field, { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function parseValue(text: string, field: string, command: Command): unknown {
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    usageError(command, `${field}: cannot parse "${text}" as a YAML value: ${(err as Error).message.split('\n')[0]}`);
  }
  if (value === null) usageError(command, `${field}: no value; to remove an override use "tributary tenant limits clear <name> ${field}"`);
  return value;
}

// ---- shared ----

function requireConfig(options: StateOptions, command: Command, what: string): Config {
  const config = configOf(options);
  if (config === undefined) {
    usageError(command, `${what} needs --config <file>: the effective limits are the config file's, overridden by the admin overrides`);
  }
  return config;
}

function mustFind(db: Database, config: Config | undefined, name: string, options: StateOptions): KnownTenant {
  const tenant = new TenantCatalog(db, config).find(name);
  if (tenant === undefined) {
    const hint = config === undefined ? ' (tenants only named in the config file are known with --config)' : '';
    throw new CliExit(
      EXIT_RUNTIME,
      `error: unknown tenant "${name}": it is in neither the tenants table nor any token of ${stateSource(options)}${config === undefined ? '' : ', nor the config'}${hint}; create it with "tributary tenant create ${name}"`,
    );
  }
  return tenant;
}

/** A limit as an operator reads it: durations as 20m or 1m30s, 0 as "0 (off)" where 0 means no limit. */
export function formatLimit(field: keyof TenantLimits, value: number): string {
  if (value === 0 && ZERO_IS_OFF.has(field)) return '0 (off)';
  return DURATION_FIELDS.has(field) ? formatDuration(value) : String(value);
}

const DURATION_UNITS: readonly (readonly [string, number])[] = [
  ['y', 31_536_000_000],
  ['w', 604_800_000],
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
  ['ms', 1],
];

/** Milliseconds as a Prometheus duration (what the config file would say): 1200000 → 20m, 90000 → 1m30s. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = Math.round(ms);
  let out = '';
  for (const [unit, size] of DURATION_UNITS) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out;
}

function formatOverrides(overrides: TenantLimitOverrides): string {
  const parts = LIMIT_FIELDS.flatMap((f) => {
    const v = overrides[f];
    return v === undefined ? [] : [`${f}=${formatLimit(f, v)}`];
  });
  return parts.length === 0 ? '-' : parts.join(',');
}
