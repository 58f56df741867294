/**
 * Every metric tributary exports, created from an injected Registry (so tests can run many apps in
 * one process). This is the one place where names, help texts and label names live. Labels are
 * bounded: tenant, cluster, backend, reason, result, code; never series labels.
 */
import { Counter, Gauge, Histogram, type Registry, collectDefaultMetrics } from 'prom-client';

export interface QueueStatsSource {
  backends(): readonly string[];
  stats(backend: string): { items: number; bytes: number; oldestEnqueuedAtMs: number | undefined };
  /** The backend's `max_queue_bytes` (for alerts on a queue near its cap); not exported when left out. */
  maxBytes?(backend: string): number;
}

export class Metrics {
  readonly registry: Registry;

  // ---- ingest ----
  /** Requests by tenant and HTTP status code ("" tenant when authentication failed). */
  readonly ingestRequests: Counter<'tenant' | 'code'>;
  readonly ingestRequestDuration: Histogram<'code'>;
  /** Samples (floats and native histograms) received in well-formed requests. */
  readonly ingestReceivedSamples: Counter<'tenant'>;
  readonly ingestAcceptedSamples: Counter<'tenant'>;
  readonly ingestRejectedSamples: Counter<'tenant' | 'reason'>;
  readonly ingestRejectedSeries: Counter<'tenant' | 'reason'>;
  /** Requests refused before any series was looked at (auth, size, media type, payload, backpressure). */
  readonly ingestRejectedRequests: Counter<'tenant' | 'reason'>;
  readonly ingestExemplars: Counter<'tenant'>;
  readonly ingestMetadata: Counter<'tenant'>;
  readonly clusterLastPush: Gauge<'tenant' | 'cluster'>;

  /** Samples accepted but not forwarded on purpose: out of order or an exact duplicate of one already accepted. */
  readonly ingestDroppedSamples: Counter<'tenant' | 'reason'>;

  // ---- relabel ----
  /** Series and samples dropped on purpose by relabel rules, by stage (global, tenant, backend) and backend ("" for shared stages). */
  readonly relabelDroppedSeries: Counter<'tenant' | 'stage' | 'backend'>;
  readonly relabelDroppedSamples: Counter<'tenant' | 'stage' | 'backend'>;
  /** Series whose cluster label a rule changed at run time, put back by tributary. */
  readonly relabelClusterRestored: Counter<'tenant'>;
  /** Relabel cache lookups by result (hit, miss). */
  readonly relabelCacheLookups: Counter<'result'>;

  // ---- routing ----
  /** Data left out on purpose for one backend (e.g. native histograms it cannot take). */
  readonly droppedSamples: Counter<'backend' | 'reason'>;

  // ---- forward ----
  /** Samples by outcome: sent (2xx), rejected (non-retryable 4xx from the backend). */
  readonly forwardSamples: Counter<'backend' | 'result'>;
  /** Send attempts by HTTP status, or "network" / "timeout" when there was no answer. */
  readonly forwardRequests: Counter<'backend' | 'code'>;
  readonly forwardRetries: Counter<'backend' | 'code'>;
  readonly forwardDuration: Histogram<'backend'>;
  /** Batches split to isolate what a backend refused (400, 413, or a poison 5xx), by the status that caused it. */
  readonly forwardSplits: Counter<'backend' | 'code'>;
  /** Samples dropped from a backend's queue without being delivered (max_queue_age). Backend refusals count in forwardSamples{result="rejected"}. */
  readonly queueDroppedSamples: Counter<'backend' | 'reason'>;

  // ---- config ----
  readonly configReloadSuccess: Gauge;
  readonly configReloadTimestamp: Gauge;

  constructor(registry: Registry, options: { defaultMetrics?: boolean } = {}) {
    this.registry = registry;
    const r = [registry];
    if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'tributary_' });

    this.ingestRequests = new Counter({
      name: 'tributary_ingest_requests_total',
      help: 'Remote-write requests received, by tenant and HTTP status code answered.',
      labelNames: ['tenant', 'code'],
      registers: r,
    });
    this.ingestRequestDuration = new Histogram({
      name: 'tributary_ingest_request_duration_seconds',
      help: 'Time from receiving a remote-write request to answering it, by status code.',
      labelNames: ['code'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: r,
    });
    this.ingestReceivedSamples = new Counter({
      name: 'tributary_ingest_received_samples_total',
      help: 'Samples (float samples and native histogram samples) received in decodable requests.',
      labelNames: ['tenant'],
      registers: r,
    });
    this.ingestAcceptedSamples = new Counter({
      name: 'tributary_ingest_accepted_samples_total',
      help: 'Samples accepted and queued for forwarding.',
      labelNames: ['tenant'],
      registers: r,
    });
    this.ingestRejectedSamples = new Counter({
      name: 'tributary_ingest_rejected_samples_total',
      help: "Samples refused at ingest, by reason (cluster: the token's only cluster or the series' cluster; empty when neither is known).",
      labelNames: ['tenant', 'cluster', 'reason'],
      registers: r,
    });
    this.ingestRejectedSeries = new Counter({
      name: 'tributary_ingest_rejected_series_total',
      help: 'Series refused at ingest (partial rejection), by reason.',
      labelNames: ['tenant', 'cluster', 'reason'],
      registers: r,
    });
    this.ingestRejectedRequests = new Counter({
      name: 'tributary_ingest_rejected_requests_total',
      help: "Requests refused as a whole, by reason (tenant is empty when authentication failed; cluster is the token's only cluster, else empty).",
      labelNames: ['tenant', 'cluster', 'reason'],
      registers: r,
    });
    this.ingestExemplars = new Counter({
      name: 'tributary_ingest_exemplars_total',
      help: 'Exemplars accepted and queued for forwarding.',
      labelNames: ['tenant'],
      registers: r,
    });
    this.ingestMetadata = new Counter({
      name: 'tributary_ingest_metadata_total',
      help: 'Metric metadata entries accepted and queued for forwarding.',
      labelNames: ['tenant'],
      registers: r,
    });
    this.clusterLastPush = new Gauge({
      name: 'tributary_cluster_last_push_timestamp_seconds',
      help: 'Unix time of the last accepted push carrying series of this cluster; alert when it stops moving.',
      labelNames: ['tenant', 'cluster'],
      registers: r,
    });
    this.ingestDroppedSamples = new Counter({
      name: 'tributary_ingest_dropped_samples_total',
      help: 'Samples accepted (2xx) but not forwarded on purpose: older than one already accepted for the series (out_of_order), or a resend of one (duplicate_sample).',
      labelNames: ['tenant', 'reason'],
      registers: r,
    });
    this.relabelDroppedSeries = new Counter({
      name: 'tributary_relabel_dropped_series_total',
      help: 'Series dropped on purpose by relabel rules (not errors), by tenant, stage (global, tenant, backend) and backend ("" for the stages all backends share).',
      labelNames: ['tenant', 'stage', 'backend'],
      registers: r,
    });
    this.relabelDroppedSamples = new Counter({
      name: 'tributary_relabel_dropped_samples_total',
      help: 'Samples of the series dropped by relabel rules, by tenant, stage and backend.',
      labelNames: ['tenant', 'stage', 'backend'],
      registers: r,
    });
    this.relabelClusterRestored = new Counter({
      name: 'tributary_relabel_cluster_label_restored_total',
      help: 'Series whose cluster label a relabel rule changed or removed; tributary put the enforced value back. Fix the rule.',
      labelNames: ['tenant'],
      registers: r,
    });
    this.relabelCacheLookups = new Counter({
      name: 'tributary_relabel_cache_lookups_total',
      help: 'Relabel cache lookups by result (hit, miss); a miss runs the rules for the series.',
      labelNames: ['result'],
      registers: r,
    });
    this.droppedSamples = new Counter({
      name: 'tributary_route_dropped_samples_total',
      help: 'Samples left out for one backend on purpose (e.g. native histograms the backend does not accept), by reason.',
      labelNames: ['backend', 'reason'],
      registers: r,
    });
    this.forwardSamples = new Counter({
      name: 'tributary_forward_samples_total',
      help: 'Samples handed to a backend, by result: sent (2xx) or rejected (non-retryable 4xx).',
      labelNames: ['backend', 'result'],
      registers: r,
    });
    this.forwardRequests = new Counter({
      name: 'tributary_forward_requests_total',
      help: 'Send attempts to a backend, by HTTP status code, or network/timeout when it did not answer.',
      labelNames: ['backend', 'code'],
      registers: r,
    });
    this.forwardRetries = new Counter({
      name: 'tributary_forward_retries_total',
      help: 'Send attempts that will be retried (network errors, timeouts, 5xx, 429), by code.',
      labelNames: ['backend', 'code'],
      registers: r,
    });
    this.forwardDuration = new Histogram({
      name: 'tributary_forward_request_duration_seconds',
      help: 'Duration of one send to a backend.',
      labelNames: ['backend'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: r,
    });
    this.forwardSplits = new Counter({
      name: 'tributary_forward_splits_total',
      help: 'Batches split to isolate data a backend refused (400, 413, or a 5xx that only this batch gets), by status code.',
      labelNames: ['backend', 'code'],
      registers: r,
    });
    this.queueDroppedSamples = new Counter({
      name: 'tributary_queue_dropped_samples_total',
      help: 'Samples removed from a backend queue without delivery because they waited longer than max_queue_age (reason queue_max_age).',
      labelNames: ['backend', 'reason'],
      registers: r,
    });
    this.configReloadSuccess = new Gauge({
      name: 'tributary_config_last_reload_successful',
      help: '1 when the last config (re)load succeeded, 0 when it was refused and the previous config stays in force.',
      registers: r,
    });
    this.configReloadTimestamp = new Gauge({
      name: 'tributary_config_last_reload_success_timestamp_seconds',
      help: 'Unix time of the last successful config (re)load.',
      registers: r,
    });
  }

  /** Export the active series of the tenants that have an active-series limit, read when scraped. */
  registerActiveSeries(source: { tenants(): ReadonlyMap<string, { clusters(): ReadonlyMap<string, number> }> }): void {
    new Gauge({
      name: 'tributary_active_series',
      help: 'Series with a sample within the tenant\'s active_series_window, by tenant and cluster (tracked for tenants with an active-series limit).',
      labelNames: ['tenant', 'cluster'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [tenant, series] of source.tenants()) for (const [cluster, n] of series.clusters()) this.set({ tenant, cluster }, n);
      },
    });
  }

  /** Export the relabel cache's size, read when scraped. */
  registerRelabelCacheSize(size: () => number): void {
    new Gauge({
      name: 'tributary_relabel_cache_series',
      help: 'Series whose relabel outcome is cached (bounded by relabel_cache_size; emptied on config reload).',
      registers: [this.registry],
      collect() {
        this.set(size());
      },
    });
  }

  /** Export queue depth gauges, read from the queue when scraped (nothing to keep in step). */
  registerQueueStats(source: QueueStatsSource, now: () => number = Date.now): void {
    const perBackend = (
      name: string,
      help: string,
      pick: (s: ReturnType<QueueStatsSource['stats']>) => number,
    ): Gauge<'backend'> =>
      new Gauge({
        name,
        help,
        labelNames: ['backend'],
        registers: [this.registry],
        collect() {
          for (const backend of source.backends()) this.set({ backend }, pick(source.stats(backend)));
        },
      });
    perBackend('tributary_queue_items', 'Batches waiting to be forwarded, by backend.', (s) => s.items);
    perBackend('tributary_queue_bytes', 'Bytes (compressed) waiting to be forwarded, by backend.', (s) => s.bytes);
    perBackend('tributary_queue_oldest_age_seconds', 'Age of the oldest batch waiting to be forwarded (0 when empty).', (s) =>
      s.oldestEnqueuedAtMs === undefined ? 0 : Math.max(0, (now() - s.oldestEnqueuedAtMs) / 1000),
    );
    const maxBytes = source.maxBytes;
    if (maxBytes !== undefined) {
      new Gauge({
        name: 'tributary_queue_max_bytes',
        help: "The backend's max_queue_bytes: at it, ingest answers 503 (alert on tributary_queue_bytes / tributary_queue_max_bytes).",
        labelNames: ['backend'],
        registers: [this.registry],
        collect() {
          for (const backend of source.backends()) this.set({ backend }, maxBytes(backend));
        },
      });
    }
  }
}
