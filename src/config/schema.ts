/**
 * The config file's schema: strict (unknown keys are errors), with Prometheus-style durations and
 * byte sizes, defaults applied here, and rules between fields checked in `superRefine` so every
 * error carries its field path.
 */
import { z } from 'zod';
import { checkLimits, mergeLimits } from '../limits/limits.js';
import { clusterLabelConflict, parseRelabelRule, type RelabelRule } from '../relabel/rules.js';
import { parseBytes, parseDurationMs } from './units.js';

const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

const duration = z.string().transform((text, ctx) => {
  const ms = parseDurationMs(text);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `must be a duration such as 30s, 5m or 1h30m (got "${text}")` });
    return z.NEVER;
  }
  return ms;
});

const bytes = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const n = parseBytes(v);
  if (n === undefined) {
    ctx.addIssue({ code: 'custom', message: `must be a byte size such as 1048576, 512KiB or 10MiB (got "${v}")` });
    return z.NEVER;
  }
  return n;
});

const labelName = z.string().regex(LABEL_NAME_RE, 'must be a label name matching [a-zA-Z_][a-zA-Z0-9_]*');

/**
 * A list of Prometheus `relabel_config` rules, validated as Prometheus 2.42 validates them; each
 * problem names the rule's index and field.
 */
const relabelRules = z.array(z.unknown()).nullable().transform((items, ctx) => {
  const rules: RelabelRule[] = [];
  // `relabel_configs:` with nothing after it is an empty list, as in Prometheus.
  (items ?? []).forEach((item, i) => {
    const parsed = parseRelabelRule(item);
    if (parsed.ok) rules.push(parsed.rule);
    else for (const p of parsed.problems) ctx.addIssue({ code: 'custom', path: [i, ...p.path], message: p.message });
  });
  return rules;
});

const listenAddress = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:9201');

const serverSchema = z.strictObject({
  /** Where tributary listens for remote write, metrics and health checks. */
  listen_address: listenAddress.default('127.0.0.1:9201'),
  /** Largest compressed body accepted (413 above). */
  max_body_bytes: bytes.default(10 * 1024 * 1024),
  /** Largest decompressed body accepted (400 above, checked before allocating). */
  max_decoded_bytes: bytes.default(32 * 1024 * 1024),
  /** How long a graceful shutdown waits for the queue to drain before giving up. */
  shutdown_timeout: duration.default(30_000),
});

const clusterLockSchema = z.strictObject({
  /** A series without the cluster label: `inject` the token's cluster (when it allows exactly one) or `require` it (reject). */
  missing: z.enum(['inject', 'require']).optional(),
  /** A series whose cluster the token does not allow: `reject` it, or `override` it to the token's cluster. */
  mismatch: z.enum(['reject', 'override']).optional(),
});

const validationSchema = z.strictObject({
  /**
   * Series whose last accepted timestamp is remembered, to drop samples older than it (and exact
   * duplicates) before they reach a backend that would refuse the whole batch for them.
   */
  max_tracked_series: z.number().int().min(1000).default(1_000_000),
});

const queueSchema = z.strictObject({
  /**
   * SQLite `synchronous` for the durable queue: `normal` survives a crash of tributary (kill -9),
   * `full` also survives power loss and OS crashes, at the cost of an fsync per commit.
   */
  synchronous: z.enum(['normal', 'full']).default('normal'),
});

/** Per-tenant limits (0: no limit); the top-level `limits` are every tenant's defaults. */
const limitFields = {
  ingestion_rate: z.number().min(0),
  ingestion_burst_size: z.number().int().min(0),
  request_rate: z.number().min(0),
  request_burst_size: z.number().int().min(0),
  rate_limit_status: z.union([z.literal(429), z.literal(503)], { error: 'must be 429 or 503' }),
  max_samples_per_request: z.number().int().min(0),
  max_series_per_request: z.number().int().min(0),
  max_exemplars_per_request: z.number().int().min(0),
  max_metadata_per_request: z.number().int().min(0),
  max_label_names_per_series: z.number().int().min(0),
  max_label_name_length: z.number().int().min(0),
  max_label_value_length: z.number().int().min(0),
  max_active_series: z.number().int().min(0),
  max_active_series_per_cluster: z.number().int().min(0),
  active_series_window: duration,
  /** Compressed and decompressed body size caps of this tenant (0: only the server's caps). */
  max_body_bytes: bytes,
  max_decoded_bytes: bytes,
  /** Samples more than this ahead of tributary's clock are rejected (too_far_in_future). */
  future_grace: duration,
  /** Samples older than this are rejected (too_old); 0: no limit. */
  max_sample_age: duration,
};

const limitsSchema = z.strictObject({
  ingestion_rate: limitFields.ingestion_rate.default(0),
  ingestion_burst_size: limitFields.ingestion_burst_size.default(0),
  request_rate: limitFields.request_rate.default(0),
  request_burst_size: limitFields.request_burst_size.default(0),
  rate_limit_status: limitFields.rate_limit_status.default(503),
  max_samples_per_request: limitFields.max_samples_per_request.default(0),
  max_series_per_request: limitFields.max_series_per_request.default(0),
  max_exemplars_per_request: limitFields.max_exemplars_per_request.default(0),
  max_metadata_per_request: limitFields.max_metadata_per_request.default(0),
  max_label_names_per_series: limitFields.max_label_names_per_series.default(0),
  max_label_name_length: limitFields.max_label_name_length.default(0),
  max_label_value_length: limitFields.max_label_value_length.default(0),
  max_active_series: limitFields.max_active_series.default(0),
  max_active_series_per_cluster: limitFields.max_active_series_per_cluster.default(0),
  active_series_window: limitFields.active_series_window.default(20 * 60_000),
  max_body_bytes: limitFields.max_body_bytes.default(0),
  max_decoded_bytes: limitFields.max_decoded_bytes.default(0),
  future_grace: limitFields.future_grace.default(10 * 60_000),
  max_sample_age: limitFields.max_sample_age.default(0),
});

const tenantLimitsSchema = z.strictObject({
  ingestion_rate: limitFields.ingestion_rate.optional(),
  ingestion_burst_size: limitFields.ingestion_burst_size.optional(),
  request_rate: limitFields.request_rate.optional(),
  request_burst_size: limitFields.request_burst_size.optional(),
  rate_limit_status: limitFields.rate_limit_status.optional(),
  max_samples_per_request: limitFields.max_samples_per_request.optional(),
  max_series_per_request: limitFields.max_series_per_request.optional(),
  max_exemplars_per_request: limitFields.max_exemplars_per_request.optional(),
  max_metadata_per_request: limitFields.max_metadata_per_request.optional(),
  max_label_names_per_series: limitFields.max_label_names_per_series.optional(),
  max_label_name_length: limitFields.max_label_name_length.optional(),
  max_label_value_length: limitFields.max_label_value_length.optional(),
  max_active_series: limitFields.max_active_series.optional(),
  max_active_series_per_cluster: limitFields.max_active_series_per_cluster.optional(),
  active_series_window: limitFields.active_series_window.optional(),
  max_body_bytes: limitFields.max_body_bytes.optional(),
  max_decoded_bytes: limitFields.max_decoded_bytes.optional(),
  future_grace: limitFields.future_grace.optional(),
  max_sample_age: limitFields.max_sample_age.optional(),
});

/**
 * One tenant's limit overrides as the admin API and `tributary tenant limits set` take them: the
 * fields of `tenants.<name>.limits`, each optional (durations and sizes as in the config file).
 */
export const tenantLimitOverridesSchema = tenantLimitsSchema;

const tenantSchema = z.strictObject({
  cluster_lock: clusterLockSchema.default({}),
  /** Applied to this tenant's series after the global `relabel_configs`. */
  relabel_configs: relabelRules.default([]),
  /** Overrides of the top-level `limits`, field by field. */
  limits: tenantLimitsSchema.default({}),
});

/** Where a token is given: the secret in a file, or only its hash. Exactly one of them. */
const tokenSource = {
  /** A file holding the token itself (a mounted Kubernetes Secret). */
  token_file: z.string().min(1).optional(),
  /** The token's SHA-256, hex (so not even the secret has to be on disk). */
  token_sha256: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex digits (sha256sum of the token)')
    .transform((s) => s.toLowerCase())
    .optional(),
};

function oneTokenSource(t: { token_file?: string | undefined; token_sha256?: string | undefined }, ctx: z.RefinementCtx): void {
  if ((t.token_file === undefined) === (t.token_sha256 === undefined)) {
    ctx.addIssue({ code: 'custom', message: 'set exactly one of token_file or token_sha256' });
  }
}

const tokenSchema = z
  .strictObject({
    tenant: z.string().min(1),
    clusters: z.array(z.string().min(1)).min(1, 'must list at least one cluster'),
    ...tokenSource,
  })
  .superRefine(oneTokenSource);

/** The admin API's token (separate from every tenant token); without it the admin API is off. */
const adminSchema = z.strictObject(tokenSource).superRefine(oneTokenSource);

const usageSchema = z.strictObject({
  /** How long hourly usage rows are kept. */
  retention: duration.default(90 * 86_400_000),
  /** How often counted usage is written to the state database (and at shutdown). */
  flush_interval: duration.refine((ms) => ms >= 1000, 'must be at least 1s').default(10_000),
});

const basicAuthSchema = z.strictObject({
  username: z.string().min(1),
  password_file: z.string().min(1),
});

const RESERVED_HEADERS = new Set([
  'content-type',
  'content-encoding',
  'content-length',
  'user-agent',
  'host',
  'authorization',
  'x-prometheus-remote-write-version',
]);

const backendSchema = z
  .strictObject({
    /** Names the backend in metrics, logs and the queue. */
    name: z.string().regex(/^[a-zA-Z0-9_-]+$/, 'must be letters, digits, _ or -'),
    url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
    headers: z.record(z.string(), z.string()).default({}),
    basic_auth: basicAuthSchema.optional(),
    bearer_token_file: z.string().min(1).optional(),
    /** Add `<tenant_label>="<tenant>"` to every series sent to this backend. */
    tenant_label: labelName.optional(),
    /** Send the tenant in this header (e.g. X-Scope-OrgID for Mimir/Cortex/Thanos). */
    tenant_header: z.string().min(1).optional(),
    /** Native histograms are sent only where the backend has them enabled; otherwise dropped and counted. */
    accepts_native_histograms: z.boolean().default(false),
    /** Parallel senders; each keeps the order of the series routed to it. */
    shards: z.number().int().min(1).max(64).default(4),
    max_samples_per_send: z.number().int().min(1).default(50_000),
    /** How long a shard waits for more data to fill a batch before sending a partial one. */
    batch_send_deadline: duration.default(0),
    min_backoff: duration.default(50),
    max_backoff: duration.default(1000),
    remote_timeout: duration.default(30_000),
    /** Cap on this backend's queue; at the cap ingest answers 503 with Retry-After. */
    max_queue_bytes: bytes.default(256 * 1024 * 1024),
    /** Batches older than this are dropped (counted and logged); 0 keeps them until delivered. */
    max_queue_age: duration.default(0),
    /** Applied last, to what goes to this backend only (Prometheus' `write_relabel_configs`). */
    write_relabel_configs: relabelRules.default([]),
  })
  .superRefine((b, ctx) => {
    if (b.basic_auth && b.bearer_token_file) {
      ctx.addIssue({ code: 'custom', path: ['bearer_token_file'], message: 'set basic_auth or bearer_token_file, not both' });
    }
    if (b.min_backoff > b.max_backoff) {
      ctx.addIssue({ code: 'custom', path: ['min_backoff'], message: 'must not be larger than max_backoff' });
    }
    for (const name of Object.keys(b.headers)) {
      if (RESERVED_HEADERS.has(name.toLowerCase())) {
        ctx.addIssue({
          code: 'custom',
          path: ['headers', name],
          message: `is set by tributary itself and cannot be overridden${name.toLowerCase() === 'authorization' ? ' (use basic_auth or bearer_token_file)' : ''}`,
        });
      }
    }
  });

export const configSchema = z
  .strictObject({
    server: serverSchema.default(serverSchema.parse({})),
    /** Directory for tributary's SQLite state: tokens and the durable queue. */
    data_dir: z.string().min(1).default('./data'),
    /** The label that names a series' cluster. */
    cluster_label: labelName.default('cluster'),
    /** Defaults for every tenant; a tenant's own `cluster_lock` overrides field by field. */
    cluster_lock: z
      .strictObject({
        missing: z.enum(['inject', 'require']).default('inject'),
        mismatch: z.enum(['reject', 'override']).default('reject'),
      })
      .default({ missing: 'inject', mismatch: 'reject' }),
    validation: validationSchema.default(validationSchema.parse({})),
    limits: limitsSchema.default(limitsSchema.parse({})),
    /**
     * tributary replicas behind one Service: each enforces 1/replicas of every tenant's rates
     * (bursts and per-request caps stay whole).
     */
    replicas: z.number().int().min(1).default(1),
    queue: queueSchema.default(queueSchema.parse({})),
    /** The admin HTTP API (/admin/v1/...); off when absent. */
    admin: adminSchema.optional(),
    usage: usageSchema.default(usageSchema.parse({})),
    tenants: z.record(z.string().min(1), tenantSchema).default({}),
    tokens: z.array(tokenSchema).default([]),
    /** Applied first, to every tenant's series (Prometheus `relabel_config` rules). */
    relabel_configs: relabelRules.default([]),
    /** Series whose relabel outcome is remembered (0: none; every series is relabeled on every request). */
    relabel_cache_size: z.number().int().min(0).default(100_000),
    backends: z.array(backendSchema).min(1, 'must list at least one backend'),
  })
  .superRefine((c, ctx) => {
    const guard = (rules: readonly RelabelRule[], path: readonly (string | number)[]) => {
      rules.forEach((rule, i) => {
        const conflict = clusterLabelConflict(rule, c.cluster_label);
        if (conflict !== undefined) ctx.addIssue({ code: 'custom', path: [...path, i, ...conflict.path], message: conflict.message });
      });
    };
    for (const p of checkLimits(c.limits)) ctx.addIssue({ code: 'custom', path: ['limits', p.field], message: p.message });
    for (const [name, tenant] of Object.entries(c.tenants)) {
      for (const p of checkLimits(mergeLimits(c.limits, tenant.limits))) {
        ctx.addIssue({ code: 'custom', path: ['tenants', name, 'limits', p.field], message: `${p.message} (the tenant's limits merged with the defaults)` });
      }
    }
    guard(c.relabel_configs, ['relabel_configs']);
    for (const [name, tenant] of Object.entries(c.tenants)) guard(tenant.relabel_configs, ['tenants', name, 'relabel_configs']);
    c.backends.forEach((b, i) => {
      guard(b.write_relabel_configs, ['backends', i, 'write_relabel_configs']);
    });
    const seen = new Set<string>();
    c.backends.forEach((b, i) => {
      if (seen.has(b.name)) ctx.addIssue({ code: 'custom', path: ['backends', i, 'name'], message: `duplicate backend name "${b.name}"` });
      seen.add(b.name);
    });
  });

/** The validated config, defaults applied; durations in ms, sizes in bytes. */
export type Config = z.output<typeof configSchema>;
export type BackendConfig = Config['backends'][number];
export type TokenConfig = Config['tokens'][number];
export type ClusterLockPolicy = Config['cluster_lock'];
export type AdminConfig = NonNullable<Config['admin']>;
export type TenantLimitOverridesInput = z.input<typeof tenantLimitOverridesSchema>;
