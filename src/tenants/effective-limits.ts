/**
 * A tenant's effective limits at run time, and the parsing of limit overrides as operators type them.
 *
 * Precedence, field by field: the config's top-level `limits` (the defaults), then the config's
 * `tenants.<name>.limits`, then the overrides set at run time through the admin API or the CLI.
 * The admin overrides win so an operator can act on a tenant without editing and reloading the
 * YAML; the YAML stays the source of every field nobody overrode.
 */
import type { z } from 'zod';
import { type Config, tenantLimitOverridesSchema } from '../config/schema.js';
import { checkLimits, mergeLimits, type TenantLimitOverrides, type TenantLimits } from '../limits/limits.js';
import { isLimitField, LIMIT_FIELDS } from '../state/tenants-repo.js';

/** Where an effective limit comes from. */
export type LimitSource = 'default' | 'config' | 'admin';

export interface EffectiveLimits {
  readonly limits: TenantLimits;
  readonly source: Record<keyof TenantLimits, LimitSource>;
}

/** An override request: fields to set (canonical units) and fields to clear (given as `null`). */
export type ParsedLimitOverrides =
  | { readonly ok: true; readonly set: TenantLimitOverrides; readonly clear: (keyof TenantLimits)[] }
  | { readonly ok: false; readonly problems: string[] };

/** Fields written as Prometheus durations in the config (stored in ms). */
export const DURATION_FIELDS: ReadonlySet<keyof TenantLimits> = new Set(['active_series_window', 'future_grace', 'max_sample_age']);
/** Fields written as byte sizes in the config (stored in bytes). */
export const SIZE_FIELDS: ReadonlySet<keyof TenantLimits> = new Set(['max_body_bytes', 'max_decoded_bytes']);

/** The YAML's own overrides of `tenant` (`tenants.<name>.limits`), if the config names the tenant. */
export function configOverridesOf(config: Config, tenant: string): TenantLimitOverrides | undefined {
  // hasOwn: a tenant named "constructor" or "__proto__" must not find Object.prototype.
  return Object.hasOwn(config.tenants, tenant) ? config.tenants[tenant]?.limits : undefined;
}

export function effectiveLimits(config: Config, tenant: string, overrides: TenantLimitOverrides | undefined): EffectiveLimits {
  const fromConfig = configOverridesOf(config, tenant);
  const limits = mergeLimits(mergeLimits(config.limits, fromConfig), overrides);
  const source = {} as Record<keyof TenantLimits, LimitSource>;
  for (const field of LIMIT_FIELDS) {
    source[field] = overrides?.[field] !== undefined ? 'admin' : fromConfig?.[field] !== undefined ? 'config' : 'default';
  }
  return { limits, source };
}

/**
 * Problems of the limits `tenant` would have with `overrides` (an empty list when they work), each
 * naming its field: `ingestion_burst_size: must be at least max_samples_per_request (…)`.
 */
export function checkOverrides(config: Config, tenant: string, overrides: TenantLimitOverrides | undefined): string[] {
  return checkLimits(effectiveLimits(config, tenant, overrides).limits).map((p) => `${p.field}: ${p.message}`);
}

/** `stored` with `set` written over it and the `clear` fields removed. */
export function applyOverrides(
  stored: TenantLimitOverrides,
  set: TenantLimitOverrides,
  clear: readonly (keyof TenantLimits)[],
): TenantLimitOverrides {
  const merged: Record<string, number | undefined> = { ...stored, ...set };
  for (const field of clear) delete merged[field];
  return merged as TenantLimitOverrides;
}

/**
 * Parse limit overrides as the config file writes them (durations such as "20m", sizes such as
 * "10MiB", numbers), with `null` meaning "clear this field". Every problem names its field.
 */
export function parseLimitOverrides(input: unknown): ParsedLimitOverrides {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, problems: ['expected an object of limit fields, e.g. {"max_active_series": 100000, "active_series_window": "30m"}'] };
  }
  const problems: string[] = [];
  const clear: (keyof TenantLimits)[] = [];
  const toSet: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(input)) {
    if (!isLimitField(field)) problems.push(`${field}: unknown limit field; the limit fields are ${LIMIT_FIELDS.join(', ')}`);
    else if (value === null) clear.push(field);
    else toSet[field] = value;
  }
  const parsed = tenantLimitOverridesSchema.safeParse(toSet);
  if (!parsed.success) problems.push(...parsed.error.issues.map((issue) => describeIssue(issue, toSet)));
  if (problems.length > 0 || !parsed.success) return { ok: false, problems };
  return { ok: true, set: parsed.data, clear };
}

/** `field: message`, with the config file's wording for durations and sizes of the wrong type. */
function describeIssue(issue: z.core.$ZodIssue, values: Readonly<Record<string, unknown>>): string {
  const field = String(issue.path[0] ?? '(top level)');
  const got = JSON.stringify(values[field]);
  if (isLimitField(field) && DURATION_FIELDS.has(field) && issue.code === 'invalid_type') {
    return `${field}: must be a duration such as 30s, 5m or 1h30m (got ${got})`;
  }
  if (isLimitField(field) && SIZE_FIELDS.has(field) && issue.code === 'invalid_union') {
    return `${field}: must be a byte size such as 1048576, 512KiB or 10MiB (got ${got})`;
  }
  return `${field}: ${issue.message}`;
}
