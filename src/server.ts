/**
 * Wires a running tributary from a config file: state, authentication, queue, forwarders, the HTTP
 * app; reload on demand; graceful shutdown. `serve` and the integration tests both use it.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { buildApp } from './app.js';
import { Authenticator, ConfigTokenError } from './auth/authenticator.js';
import { hashToken } from './auth/token.js';
import type { AdminConfig, BackendConfig, Config } from './config/schema.js';
import { loadConfigFile } from './config/load.js';
import { BackendForwarder } from './forward/forwarder.js';
import { ActiveSeries } from './limits/active-series.js';
import { perReplica, type TenantLimits } from './limits/limits.js';
import { RateLimiter } from './limits/rate-limiter.js';
import { Metrics } from './observability/metrics.js';
import { type PipelineSettings, WritePipeline } from './pipeline.js';
import { relabelStages } from './relabel/chain.js';
import { SqliteQueue } from './queue/sqlite-queue.js';
import { closeDatabase, openDatabase } from './state/db.js';
import { UsageRepo } from './state/usage-repo.js';
import { ConfigError, ForbiddenError } from './errors.js';
import { checkOverrides, effectiveLimits } from './tenants/effective-limits.js';
import { TenantDirectory } from './tenants/tenant-directory.js';
import { UsageRecorder } from './usage/usage-recorder.js';
import { VERSION } from './version.js';

export interface Running {
  readonly app: FastifyInstance;
  /** host:port actually bound (port 0 in the config picks a free one). */
  readonly address: string;
  readonly metrics: Metrics;
  /** Re-read the config file; a bad file is refused and the config in force stays. */
  reload(): boolean;
  /** Stop taking writes, finish in-flight requests, drain the queue (up to shutdown_timeout), close. */
  close(): Promise<void>;
}

/** How often the tenants table is checked for changes made by another process (the CLI). */
const TENANT_POLL_MS = 250;

/**
 * The pipeline's settings under `config`. `limitsOf`: each tenant's effective limits (the config's,
 * overridden by the admin API's); the config's alone when left out.
 */
export function pipelineSettings(config: Config, activeSeries?: ActiveSeries, limitsOf: (tenant: string) => TenantLimits = tenantLimitsOf(config, undefined)): PipelineSettings {
  const defaults = config.cluster_lock;
  return {
    clusterLabel: config.cluster_label,
    futureGraceMs: config.limits.future_grace,
    maxDecodedBytes: config.server.max_decoded_bytes,
    maxTrackedSeries: config.validation.max_tracked_series,
    backends: config.backends.map((b) => ({
      name: b.name,
      shards: b.shards,
      tenantLabel: b.tenant_label,
      acceptsNativeHistograms: b.accepts_native_histograms,
    })),
    policyFor(tenant) {
      const own = config.tenants[tenant]?.cluster_lock;
      return { missing: own?.missing ?? defaults.missing, mismatch: own?.mismatch ?? defaults.mismatch };
    },
    relabel: relabelStages(config),
    relabelCacheSize: config.relabel_cache_size,
    limitsFor: limitsOf,
    activeSeries,
  };
}

/** A backend's settings that only a restart applies (its relabel rules apply on reload). */
function restartSettings(backends: readonly BackendConfig[]): string {
  return JSON.stringify(backends.map(({ write_relabel_configs: _, ...rest }) => rest));
}

/**
 * Each tenant's effective limits under `config` and the admin overrides of `directory`, merged once
 * per tenant (this runs several times per request). Build a new one when either changes.
 */
function tenantLimitsOf(config: Config, directory: TenantDirectory | undefined): (tenant: string) => TenantLimits {
  return memoize((tenant) => effectiveLimits(config, tenant, directory?.overridesOf(tenant)).limits);
}

function memoize(compute: (tenant: string) => TenantLimits): (tenant: string) => TenantLimits {
  const known = new Map<string, TenantLimits>();
  return (tenant) => {
    let limits = known.get(tenant);
    if (limits === undefined) {
      limits = compute(tenant);
      known.set(tenant, limits);
    }
    return limits;
  };
}

/**
 * Limits the admin API set that no longer fit the (reloaded) config: each problem names the tenant
 * and field. A config that makes an override unusable is refused, as a bad config is.
 */
function overrideProblems(config: Config, directory: TenantDirectory, tenants: Iterable<string>): string[] {
  const problems: string[] = [];
  for (const tenant of tenants) {
    const overrides = directory.overridesOf(tenant);
    if (overrides === undefined) continue;
    for (const p of checkOverrides(config, tenant, overrides)) problems.push(`tenant ${tenant} (with its admin limit overrides): ${p}`);
  }
  return problems;
}

/** SHA-256 of the admin token (undefined: the admin API is off). Reads `token_file` now. */
function adminTokenHash(admin: AdminConfig | undefined, configPath: string): string | undefined {
  if (admin === undefined) return undefined;
  if (admin.token_sha256 !== undefined) return admin.token_sha256;
  const path = admin.token_file as string;
  let secret: string;
  try {
    secret = readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new ConfigError(configPath, [`admin.token_file: cannot read "${path}": ${(err as Error).message}`]);
  }
  if (secret === '') throw new ConfigError(configPath, [`admin.token_file: "${path}" is empty`]);
  return hashToken(secret);
}

function splitHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

export async function startServer(configPath: string, logger: Logger, now: () => number = Date.now): Promise<Running> {
  let config = loadConfigFile(configPath);
  let adminHash = adminTokenHash(config.admin, configPath);
  const metrics = new Metrics(new Registry(), { defaultMetrics: true });
  const db = openDatabase(config.data_dir, { synchronous: config.queue.synchronous });
  let authenticator: Authenticator;
  let directory: TenantDirectory;
  try {
    authenticator = new Authenticator({ db, configTokens: config.tokens, now });
    // Reads the tenants table: a malformed row is an error here, with the database closed below.
    directory = new TenantDirectory(db);
    const problems = overrideProblems(config, directory, directory.tenants());
    if (problems.length > 0) throw new ConfigError(configPath, problems);
  } catch (err) {
    closeDatabase(db);
    throw err instanceof ConfigTokenError ? new ConfigError(configPath, err.problems) : err;
  }
  const usage = new UsageRecorder({ repo: new UsageRepo(db), retentionMs: config.usage.retention, now });
  let queue: SqliteQueue;
  try {
    // The durable queue lives in the same database as the tokens: a 2xx means the batch is committed.
    queue = new SqliteQueue({
      db,
      backends: config.backends.map((b) => ({
        name: b.name,
        shards: b.shards,
        maxQueueBytes: b.max_queue_bytes,
        maxQueueAgeMs: b.max_queue_age,
      })),
      metrics,
      logger,
      now,
    });
  } catch (err) {
    closeDatabase(db);
    throw err;
  }
  const maxQueueBytes = new Map(config.backends.map((b) => [b.name, b.max_queue_bytes]));
  metrics.registerQueueStats({ backends: () => queue.backends(), stats: (b) => queue.stats(b), maxBytes: (b) => maxQueueBytes.get(b) ?? 0 }, now);
  // Read through `pipeline`, which a reload replaces (declared below, read only when scraped).
  metrics.registerRelabelCacheSize(() => pipeline.relabelCacheSize);
  const userAgent = `tributary/${VERSION}`;
  const forwarders: BackendForwarder[] = [];
  try {
    config.backends.forEach((backend, i) => {
      try {
        forwarders.push(new BackendForwarder({ backend, queue, metrics, logger, userAgent }));
      } catch (err) {
        // Secret files (password_file, bearer_token_file) are read here.
        throw new ConfigError(configPath, [`backends[${i}] (${backend.name}): ${(err as Error).message}`]);
      }
    });
  } catch (err) {
    await Promise.all(forwarders.map((f) => f.stop({ drainTimeoutMs: 0 })));
    await queue.close();
    closeDatabase(db);
    throw err;
  }
  for (const f of forwarders) f.start();

  // Active series outlive reloads, as the high-water marks do.
  const activeSeries = new ActiveSeries();
  metrics.registerActiveSeries(activeSeries);
  let limitsOf = tenantLimitsOf(config, directory);
  let pipeline = new WritePipeline(pipelineSettings(config, activeSeries, limitsOf));
  /** What this replica enforces of each tenant's rates (see perReplica). */
  const replicaLimits = () => memoize((tenant) => perReplica(limitsOf(tenant), config.replicas));
  const limiter = new RateLimiter(replicaLimits());
  /** Put the config and the tenants table in force: limits, the pipeline (keeping its state), the rates. */
  const apply = () => {
    limitsOf = tenantLimitsOf(config, directory);
    pipeline = new WritePipeline(pipelineSettings(config, activeSeries, limitsOf), pipeline);
    limiter.configure(replicaLimits(), now());
  };
  /**
   * After a write of the admin API ('written', through this connection) or on the poll for the
   * CLI's writes from another process: apply what changed in the tenants table. A token the admin
   * API revoked applies at once (the cache would keep it for up to a second); the CLI's revocations
   * reach the server through that cache's expiry.
   */
  const tenantsChanged = (how: 'written' | 'poll') => {
    try {
      if (how === 'written') authenticator.clearCache();
      if (how === 'written' ? directory.refresh() : directory.refreshIfChanged()) apply();
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'could not read the tenants table; the tenant settings in force stay');
    }
  };
  const tenantPoll = setInterval(() => tenantsChanged('poll'), TENANT_POLL_MS);
  tenantPoll.unref();
  let shuttingDown = false;
  const app = buildApp({
    logger,
    metrics,
    queue,
    authenticate: (header) => authenticator.authenticate(header),
    pipeline: () => pipeline,
    limiter,
    tenants: {
      check(tenant) {
        const disabledAt = directory.disabledAt(tenant);
        if (disabledAt === undefined) return;
        throw new ForbiddenError(
          'tenant_disabled',
          `tenant "${tenant}" was disabled by an operator at ${new Date(disabledAt).toISOString()}; its data is refused until it is enabled again (tributary tenant enable ${tenant})`,
        );
      },
      limitsOf: (tenant) => limitsOf(tenant),
    },
    usage,
    admin: {
      db,
      config: () => config,
      adminTokenHash: () => adminHash,
      usage,
      onChange: () => tenantsChanged('written'),
      now,
    },
    maxBodyBytes: config.server.max_body_bytes,
    now,
    isShuttingDown: () => shuttingDown,
    isReady: () => !shuttingDown,
  });
  const { host, port } = splitHostPort(config.server.listen_address);
  try {
    await app.listen({ host, port });
  } catch (err) {
    // e.g. the address is in use: stop what was started so the data directory is released cleanly.
    await app.close();
    await Promise.all(forwarders.map((f) => f.stop({ drainTimeoutMs: 0 })));
    await queue.close();
    closeDatabase(db);
    throw err;
  }
  const bound = app.server.address();
  const address = typeof bound === 'object' && bound !== null ? `${host}:${bound.port}` : config.server.listen_address;
  metrics.configReloadSuccess.set(1);
  metrics.configReloadTimestamp.set(now() / 1000);
  logger.info({ address, backends: config.backends.map((b) => b.name), version: VERSION }, 'tributary is listening');

  const flushLastUsed = () => {
    try {
      authenticator.flushLastUsed();
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'could not record token last-used times; will retry');
    }
  };
  const lastUsedTimer = setInterval(flushLastUsed, 5000);
  lastUsedTimer.unref();
  const flushUsage = () => {
    try {
      for (const [tenant, series] of activeSeries.tenants()) {
        for (const [cluster, n] of series.clusters()) usage.noteActiveSeries(tenant, cluster, n, now());
      }
      usage.flush();
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'could not write usage to the state database; will retry');
    }
  };
  const usageTimer = setInterval(flushUsage, config.usage.flush_interval);
  usageTimer.unref();

  return {
    app,
    address,
    metrics,
    reload() {
      try {
        const next = loadConfigFile(configPath);
        const nextAdminHash = adminTokenHash(next.admin, configPath);
        const problems = overrideProblems(next, directory, directory.tenants());
        if (problems.length > 0) throw new ConfigError(configPath, problems);
        authenticator.reloadConfigTokens(next.tokens);
        adminHash = nextAdminHash;
        if (restartSettings(next.backends) !== restartSettings(config.backends) || JSON.stringify(next.server) !== JSON.stringify(config.server)) {
          logger.warn('config reload: changes to backends (but their write_relabel_configs), server and data_dir take effect at the next restart');
          // The running backends stay; each takes the new write_relabel_configs of the backend of its name.
          const rules = new Map(next.backends.map((b) => [b.name, b.write_relabel_configs]));
          next.backends = config.backends.map((b) => ({ ...b, write_relabel_configs: rules.get(b.name) ?? b.write_relabel_configs }));
          next.server = config.server;
        }
        config = next;
        // The new pipeline takes over the per-series high-water marks (unless their size changed).
        apply();
        metrics.configReloadSuccess.set(1);
        metrics.configReloadTimestamp.set(now() / 1000);
        logger.info({ config: configPath }, 'config reloaded');
        return true;
      } catch (err) {
        metrics.configReloadSuccess.set(0);
        const problems = err instanceof ConfigTokenError || err instanceof ConfigError ? err.problems : [(err as Error).message];
        logger.error({ problems, config: configPath }, 'config reload refused; the previous config stays in force');
        return false;
      }
    },
    async close() {
      shuttingDown = true;
      await app.close();
      await Promise.all(forwarders.map((f) => f.stop({ drainTimeoutMs: config.server.shutdown_timeout })));
      clearInterval(lastUsedTimer);
      clearInterval(tenantPoll);
      clearInterval(usageTimer);
      flushLastUsed();
      flushUsage();
      await queue.close();
      closeDatabase(db);
      logger.info('tributary stopped');
    },
  };
}
