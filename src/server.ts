/**
 * Wires a running tributary from a config file: state, authentication, queue, forwarders, the HTTP
 * app; reload on demand; graceful shutdown. `serve` and the integration tests both use it.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { buildApp } from './app.js';
import { Authenticator, ConfigTokenError } from './auth/authenticator.js';
import type { BackendConfig, Config } from './config/schema.js';
import { loadConfigFile } from './config/load.js';
import { BackendForwarder } from './forward/forwarder.js';
import { ActiveSeries } from './limits/active-series.js';
import { mergeLimits, perReplica, type TenantLimits } from './limits/limits.js';
import { RateLimiter } from './limits/rate-limiter.js';
import { Metrics } from './observability/metrics.js';
import { type PipelineSettings, WritePipeline } from './pipeline.js';
import { relabelStages } from './relabel/chain.js';
import { SqliteQueue } from './queue/sqlite-queue.js';
import { closeDatabase, openDatabase } from './state/db.js';
import { ConfigError } from './errors.js';
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

export function pipelineSettings(config: Config, activeSeries?: ActiveSeries): PipelineSettings {
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
    labelLimitsFor(tenant) {
      const l = mergeLimits(config.limits, config.tenants[tenant]?.limits);
      if (l.max_label_names_per_series === 0 && l.max_label_name_length === 0 && l.max_label_value_length === 0) return undefined;
      return { maxLabelNamesPerSeries: l.max_label_names_per_series, maxLabelNameLength: l.max_label_name_length, maxLabelValueLength: l.max_label_value_length };
    },
    activeSeries,
    activeSeriesLimitsFor(tenant) {
      const l = mergeLimits(config.limits, config.tenants[tenant]?.limits);
      if (l.max_active_series === 0 && l.max_active_series_per_cluster === 0) return undefined;
      return { maxActiveSeries: l.max_active_series, maxActiveSeriesPerCluster: l.max_active_series_per_cluster, windowMs: l.active_series_window };
    },
  };
}

/** A backend's settings that only a restart applies (its relabel rules apply on reload). */
function restartSettings(backends: readonly BackendConfig[]): string {
  return JSON.stringify(backends.map(({ write_relabel_configs: _, ...rest }) => rest));
}

/** Each tenant's limits under `config`: the defaults merged with its own. */
function limitsOf(config: Config): (tenant: string) => TenantLimits {
  // Merged once per tenant and config: this runs twice per request.
  const merged = new Map<string, TenantLimits>();
  return (tenant) => {
    let limits = merged.get(tenant);
    if (limits === undefined) {
      limits = perReplica(mergeLimits(config.limits, config.tenants[tenant]?.limits), config.replicas);
      merged.set(tenant, limits);
    }
    return limits;
  };
}

function splitHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

export async function startServer(configPath: string, logger: Logger, now: () => number = Date.now): Promise<Running> {
  let config = loadConfigFile(configPath);
  const metrics = new Metrics(new Registry(), { defaultMetrics: true });
  const db = openDatabase(config.data_dir, { synchronous: config.queue.synchronous });
  let authenticator: Authenticator;
  try {
    authenticator = new Authenticator({ db, configTokens: config.tokens, now });
  } catch (err) {
    closeDatabase(db);
    throw err instanceof ConfigTokenError ? new ConfigError(configPath, err.problems) : err;
  }
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
  metrics.registerQueueStats({ backends: () => queue.backends(), stats: (b) => queue.stats(b) }, now);
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
  let pipeline = new WritePipeline(pipelineSettings(config, activeSeries));
  const limiter = new RateLimiter(limitsOf(config));
  let shuttingDown = false;
  const app = buildApp({
    logger,
    metrics,
    queue,
    authenticate: (header) => authenticator.authenticate(header),
    pipeline: () => pipeline,
    limiter,
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

  return {
    app,
    address,
    metrics,
    reload() {
      try {
        const next = loadConfigFile(configPath);
        authenticator.reloadConfigTokens(next.tokens);
        if (restartSettings(next.backends) !== restartSettings(config.backends) || JSON.stringify(next.server) !== JSON.stringify(config.server)) {
          logger.warn('config reload: changes to backends (but their write_relabel_configs), server and data_dir take effect at the next restart');
          // The running backends stay; each takes the new write_relabel_configs of the backend of its name.
          const rules = new Map(next.backends.map((b) => [b.name, b.write_relabel_configs]));
          next.backends = config.backends.map((b) => ({ ...b, write_relabel_configs: rules.get(b.name) ?? b.write_relabel_configs }));
          next.server = config.server;
        }
        config = next;
        // The new pipeline takes over the per-series high-water marks (unless their size changed).
        pipeline = new WritePipeline(pipelineSettings(config, activeSeries), pipeline);
        limiter.configure(limitsOf(config), now());
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
      flushLastUsed();
      await queue.close();
      closeDatabase(db);
      logger.info('tributary stopped');
    },
  };
}
