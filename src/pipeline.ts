/**
 * The receive pipeline, written out as a list (DESIGN.md "The pipeline"):
 *
 *   decompress -> decode -> enforce (labels, cluster lock, timestamps) -> relabel -> high-water mark
 *     -> route (per backend: its write_relabel_configs, tenant label) -> encode
 *
 * Everything here is synchronous and reuses one scratch batch and encoder, so a WritePipeline must
 * be used by one request at a time (Node runs it on one thread; nothing awaits inside `process`).
 * The caller appends the returned queue items, then commits the result's high-water marks, and
 * answers the sender.
 */
import type { Principal } from './auth/principal.js';
import { WireBatch } from './model/batch.js';
import {
  AllowedClusters,
  type ClusterLockPolicy,
  ClusterVerdict,
  lockCluster,
} from './policy/cluster-lock.js';
import { HighWaterMarks, hashSeriesKey, MarkUpdate, RequestMarks, SeriesKey, tenantSeed } from './policy/high-water-mark.js';
import { checkSeriesLabels, compareBytes, LabelCheckResult, LabelShape, renderSeries, sortedLabelOrder } from './policy/label-checks.js';
import { RejectionSummary } from './policy/rejections.js';
import type { QueueItemInput } from './queue/queue.js';
import { type ActiveSeries, type ActiveSeriesLimits, Admission, activeSeriesLimitsOf } from './limits/active-series.js';
import { checkLabelLimits, type LabelLimits, type LabelLimitViolation, labelLimitsOf } from './limits/label-limits.js';
import type { TenantLimits } from './limits/limits.js';
import { NO_RELABELING, RelabelCache, type RelabeledLabels, type RelabelStage, type RelabelStages, type SeriesOutcome, TenantChain } from './relabel/chain.js';
import { decodeWriteRequest } from './wire/rw1-decode.js';
import { WriteRequestEncoder } from './wire/rw1-encode.js';
import { compressBody, decompressBody } from './wire/snappy.js';

/** What one backend needs from the routing stage. */
export interface RouteTarget {
  readonly name: string;
  readonly shards: number;
  /** Label added to every series with the tenant as value, or undefined. */
  readonly tenantLabel: string | undefined;
  readonly acceptsNativeHistograms: boolean;
}

export interface PipelineSettings {
  readonly clusterLabel: string;
  /** Every tenant's future grace when `limitsFor` is left out. */
  readonly futureGraceMs: number;
  /** `server.max_decoded_bytes`: no tenant's cap goes above it. */
  readonly maxDecodedBytes: number;
  readonly backends: readonly RouteTarget[];
  /**
   * Series whose last accepted timestamp is remembered (`validation.max_tracked_series`); the
   * schema's default, 1,000,000, when left out. 0 turns the high-water mark off (every sample not
   * refused otherwise is forwarded, in whatever order it came: for backends that accept that).
   */
  readonly maxTrackedSeries?: number;
  /** The cluster-lock policy of a tenant (defaults merged with its own settings). */
  policyFor(tenant: string): ClusterLockPolicy;
  /** Relabel rules by stage (backends in the order of `backends`); none when left out. */
  readonly relabel?: RelabelStages;
  /** Series whose relabel outcome is remembered (`relabel_cache_size`); 100,000 when left out. */
  readonly relabelCacheSize?: number;
  /** Active series of every tenant (outlives reloads); tracked for tenants with an active-series limit. */
  readonly activeSeries?: ActiveSeries | undefined;
  /**
   * A tenant's effective limits: its label limits, active-series limits, timestamp window and
   * decoded-size cap. No limits when left out.
   */
  limitsFor?(tenant: string): TenantLimits;
}

/** Series (and their samples) that relabel rules dropped in one request, by stage. */
export interface RelabelDrop {
  readonly stage: RelabelStage;
  /** The backend for the backend stage; "" for the stages every backend shares. */
  readonly backend: string;
  readonly series: number;
  readonly samples: number;
}

/** What one request brought of one cluster: accepted and refused per series (for usage accounting). */
export interface ClusterUsage {
  /** '' for refused data that named no cluster the token may write. */
  readonly cluster: string;
  readonly acceptedSamples: number;
  readonly acceptedSeries: number;
  readonly rejectedSamples: number;
  readonly rejectedSeries: number;
}

/** What happened to one request; the caller counts it and appends `items`. */
export interface WriteResult {
  readonly items: QueueItemInput[];
  readonly seriesTotal: number;
  /** Float samples + native histogram samples in the request. */
  readonly receivedSamples: number;
  readonly acceptedSamples: number;
  readonly acceptedExemplars: number;
  readonly metadata: number;
  /** The clusters (of the token's allowed ones) that got accepted series. */
  readonly clustersPushed: readonly string[];
  /** Accepted and refused data per cluster (only clusters with any). */
  readonly clusterUsage: readonly ClusterUsage[];
  /** Native histogram samples left out per backend (it does not accept them). */
  readonly droppedHistograms: ReadonlyMap<string, number>;
  /** Samples (floats and histograms) older than one already accepted for their series: not forwarded. */
  readonly droppedOutOfOrder: number;
  /** Samples with the same timestamp as one already accepted for their series (a resend): not forwarded twice. */
  readonly droppedDuplicates: number;
  /**
   * The series' new high-water marks. Commit them once `items` are durable (after the queue append
   * resolved), never before: if the append fails, the sender retries the same samples, and they must
   * not look like a resend then.
   */
  readonly highWaterMarks: MarkUpdate;
  readonly rejections: RejectionSummary;
  /** Not errors: what the relabel rules dropped on purpose. */
  readonly relabelDrops: readonly RelabelDrop[];
  /** Series whose cluster label a relabel rule changed, and tributary put back. */
  readonly relabelClusterRestored: number;
  readonly relabelCacheHits: number;
  readonly relabelCacheMisses: number;
}

/** `validation.max_tracked_series` default (src/config/schema.ts). */
const DEFAULT_MAX_TRACKED_SERIES = 1_000_000;
/** `relabel_cache_size` default (src/config/schema.ts). */
const DEFAULT_RELABEL_CACHE_SIZE = 100_000;

/** Above these counts a request's scratch memory is released afterwards (typical: 2000 series of ~10 labels). */
const SCRATCH_LABELS_KEPT = 1 << 18;
const SCRATCH_SAMPLES_KEPT = 1 << 17;

enum SeriesFate {
  /** Rejected, or dropped by a global/tenant relabel rule: not forwarded anywhere. */
  Out = 0,
  Verbatim = 1,
  Rewrite = 2,
}

/** 32-bit FNV-1a: stable shard choice for a cluster name. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Per-token data derived once: allowed clusters as bytes and their shard per backend. */
class PrincipalRoute {
  readonly allowed: AllowedClusters;
  readonly tenantBytes: Buffer;
  /** Seed of the tenant's high-water-mark keys. */
  readonly keySeed: SeriesKey;
  /** shardOf[backend][clusterIndex] */
  readonly shardOf: readonly Int32Array[];
  readonly chain: TenantChain;
  readonly tenant: string;
  readonly labelLimits: LabelLimits | undefined;
  readonly activeLimits: ActiveSeriesLimits | undefined;
  /** Samples after now + this are too far in the future; before now - maxSampleAgeMs too old (0: any age). */
  readonly futureGraceMs: number;
  readonly maxSampleAgeMs: number;
  /** The decompressed-size cap, and the setting that sets it (for the message). */
  readonly maxDecodedBytes: number;
  readonly maxDecodedSetting: string;
  /**
   * Where refused data that names no allowed cluster is counted: the token's only cluster, or the
   * extra slot after the allowed ones (cluster '').
   */
  readonly unknownCluster: number;

  constructor(
    principal: Principal,
    backends: readonly RouteTarget[],
    chain: TenantChain,
    settings: PipelineSettings,
  ) {
    this.allowed = new AllowedClusters(principal.allowedClusters);
    this.tenantBytes = Buffer.from(principal.tenant, 'utf8');
    this.keySeed = tenantSeed(principal.tenant);
    this.shardOf = backends.map((b) => Int32Array.from(principal.allowedClusters, (c) => fnv1a(c) % b.shards));
    this.chain = chain;
    this.tenant = principal.tenant;
    const limits = settings.limitsFor?.(principal.tenant);
    this.labelLimits = limits === undefined ? undefined : labelLimitsOf(limits);
    this.activeLimits = limits === undefined || settings.activeSeries === undefined ? undefined : activeSeriesLimitsOf(limits);
    this.futureGraceMs = limits === undefined ? settings.futureGraceMs : limits.future_grace;
    this.maxSampleAgeMs = limits === undefined ? 0 : limits.max_sample_age;
    const tenantDecoded = limits === undefined ? 0 : limits.max_decoded_bytes;
    const ownCap = tenantDecoded > 0 && tenantDecoded < settings.maxDecodedBytes;
    this.maxDecodedBytes = ownCap ? tenantDecoded : settings.maxDecodedBytes;
    this.maxDecodedSetting = ownCap ? `tenant ${principal.tenant}'s max_decoded_bytes` : 'server.max_decoded_bytes';
    this.unknownCluster = principal.allowedClusters.length === 1 ? 0 : principal.allowedClusters.length;
  }

  /** The name of a cluster slot of this route ('' for the extra one). */
  clusterName(index: number): string {
    return this.allowed.names[index] ?? '';
  }
}

/** One label to add to a series being rewritten. Fixed small capacity: no allocation per series. */
class ExtraLabels {
  names: Buffer[] = [];
  values: Buffer[] = [];
  count = 0;

  reset(): void {
    this.count = 0;
  }

  /** Insert keeping name order; a later add with the same name replaces the value. */
  add(name: Buffer, value: Buffer): void {
    let i = 0;
    while (i < this.count && Buffer.compare(this.names[i] as Buffer, name) < 0) i++;
    if (i < this.count && (this.names[i] as Buffer).equals(name)) {
      this.values[i] = value;
      return;
    }
    for (let j = this.count; j > i; j--) {
      this.names[j] = this.names[j - 1] as Buffer;
      this.values[j] = this.values[j - 1] as Buffer;
    }
    this.names[i] = name;
    this.values[i] = value;
    this.count++;
  }
}

export class WritePipeline {
  readonly #settings: PipelineSettings;
  readonly #clusterLabel: Buffer;
  readonly #exportedClusterLabel: Buffer;
  readonly #tenantLabels: readonly (Buffer | undefined)[];
  readonly #routes = new WeakMap<Principal, PrincipalRoute>();
  readonly #relabelStages: RelabelStages;
  readonly #relabelCache: RelabelCache;

  // Scratch state reused from request to request.
  #batch = new WireBatch();
  #encoder = new WriteRequestEncoder();
  readonly #check = new LabelCheckResult();
  readonly #clusterIndex = { value: 0 };
  readonly #extras = new ExtraLabels();
  #fate = new Uint8Array(256);
  #verdict = new Uint8Array(256);
  #seriesCluster = new Int32Array(256);
  #clusterLabelAt = new Int32Array(256);
  #sorted = new Uint8Array(256);
  #keptSamples = new Uint32Array(256);
  #keptHistograms = new Uint32Array(256);
  /** The series' high-water mark before it (ms; -Infinity: none): only newer samples are kept. */
  #afterMs = new Float64Array(256);
  /** Samples after this (ms) are too far in the future, before this too old; set per request. */
  #maxTimestampMs = 0;
  #minTimestampMs = Number.NEGATIVE_INFINITY;
  /** Per cluster slot of the request's route: accepted and rejected series and samples. */
  #clusterAcceptedSamples = new Float64Array(8);
  #clusterAcceptedSeries = new Float64Array(8);
  /** Relabel outcome per series of the request (when the tenant has rules). */
  #outcomes: (SeriesOutcome | undefined)[] = new Array<SeriesOutcome | undefined>(256).fill(undefined);
  /** Per backend: 1 when relabeling changed or dropped any series of the request for it. */
  #relabelTouched: Uint8Array;
  /** Per backend: series and samples its write_relabel_configs dropped in this request. */
  #backendDropSeries: Uint32Array;
  #backendDropSamples: Float64Array;

  // High-water marks: the table outlives requests (and config reloads); the rest is per request.
  readonly #marks: HighWaterMarks | undefined;
  readonly #requestMarks: RequestMarks | undefined;
  readonly #key = new SeriesKey();
  #keyLo = new Int32Array(256);
  #keyHi = new Int32Array(256);
  #droppedOutOfOrder = 0;
  #droppedDuplicates = 0;

  /**
   * `previous`: the pipeline this one replaces (config reload). Its high-water marks are taken over
   * when `maxTrackedSeries` is unchanged; otherwise this pipeline starts with an empty table, which
   * only means the first sample of each series passes unchecked (the safe side).
   */
  constructor(settings: PipelineSettings, previous?: WritePipeline) {
    this.#settings = settings;
    const maxTracked = settings.maxTrackedSeries ?? DEFAULT_MAX_TRACKED_SERIES;
    const inherited = previous === undefined ? undefined : previous.#marks;
    if (maxTracked === 0) this.#marks = undefined;
    else this.#marks = inherited !== undefined && inherited.maxSeries === maxTracked ? inherited : new HighWaterMarks(maxTracked);
    this.#requestMarks = this.#marks === undefined ? undefined : new RequestMarks(this.#marks);
    this.#clusterLabel = Buffer.from(settings.clusterLabel);
    this.#exportedClusterLabel = Buffer.from(`exported_${settings.clusterLabel}`);
    this.#tenantLabels = settings.backends.map((b) => (b.tenantLabel === undefined ? undefined : Buffer.from(b.tenantLabel)));
    this.#relabelStages = settings.relabel ?? NO_RELABELING;
    this.#relabelCache = new RelabelCache(settings.relabelCacheSize ?? DEFAULT_RELABEL_CACHE_SIZE);
    const backendCount = settings.backends.length;
    this.#relabelTouched = new Uint8Array(backendCount);
    this.#backendDropSeries = new Uint32Array(backendCount);
    this.#backendDropSamples = new Float64Array(backendCount);
  }

  /** Series whose relabel outcome is cached now (for metrics). */
  get relabelCacheSize(): number {
    return this.#relabelCache.size;
  }

  get settings(): PipelineSettings {
    return this.#settings;
  }

  /** The per-series high-water marks (for metrics and tests); undefined when turned off. */
  get highWaterMarks(): HighWaterMarks | undefined {
    return this.#marks;
  }

  /**
   * Run one request through decode, enforce and route. Throws BadPayloadError for a body that is
   * not a snappy-compressed WriteRequest; series-level problems are recorded in `rejections`.
   */
  process(principal: Principal, body: Buffer, nowMs: number): WriteResult {
    const settings = this.#settings;
    const route = this.#routeFor(principal);
    const raw = decompressBody(body, route.maxDecodedBytes, route.maxDecodedSetting);
    const batch = this.#batch;
    decodeWriteRequest(raw, batch);
    const policy = settings.policyFor(principal.tenant);
    const n = batch.seriesCount;
    this.#ensureCapacity(n);
    // One view per request: the key hash reads the label bytes four at a time.
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const requestMarks = this.#requestMarks;
    requestMarks?.reset(n);
    this.#droppedOutOfOrder = 0;
    this.#droppedDuplicates = 0;

    const rejections = new RejectionSummary();
    const maxTimestampMs = nowMs + route.futureGraceMs;
    const minTimestampMs = route.maxSampleAgeMs > 0 ? nowMs - route.maxSampleAgeMs : Number.NEGATIVE_INFINITY;
    this.#maxTimestampMs = maxTimestampMs;
    this.#minTimestampMs = minTimestampMs;
    const clusterSeen = new Uint8Array(route.allowed.names.length);
    const clusterSlots = route.allowed.names.length + 1;
    if (this.#clusterAcceptedSamples.length < clusterSlots) {
      this.#clusterAcceptedSamples = new Float64Array(clusterSlots);
      this.#clusterAcceptedSeries = new Float64Array(clusterSlots);
    }
    this.#clusterAcceptedSamples.fill(0, 0, clusterSlots);
    this.#clusterAcceptedSeries.fill(0, 0, clusterSlots);
    let receivedSamples = 0;
    let acceptedSamples = 0;
    let acceptedExemplars = 0;
    let anyRewrite = false;
    let anyReject = false;
    let hasHistograms = false;
    const chain = route.chain;
    const relabelDrops: RelabelDrop[] = [];
    const sharedDrops = { global: { series: 0, samples: 0 }, tenant: { series: 0, samples: 0 } };
    let clusterRestored = 0;
    const cacheHits = this.#relabelCache.hits;
    const cacheMisses = this.#relabelCache.misses;
    this.#relabelTouched.fill(0);
    this.#backendDropSeries.fill(0);
    this.#backendDropSamples.fill(0);

    // ---- enforce: decide each series' fate ----
    for (let s = 0; s < n; s++) {
      const samples = batch.seriesSampleCount[s] as number;
      const histograms = batch.seriesHistogramCount[s] as number;
      receivedSamples += samples + histograms;
      this.#keptSamples[s] = samples;
      this.#keptHistograms[s] = histograms;
      this.#afterMs[s] = Number.NEGATIVE_INFINITY;

      checkSeriesLabels(batch, s, this.#clusterLabel, this.#check);
      const check = this.#check;
      const unknown = route.unknownCluster;
      if (check.reason !== undefined) {
        this.#reject(s, check.reason, route, unknown, samples + histograms, rejections, () => this.#describeLabelProblem(s, check.reason, check.badLabel));
        anyReject = true;
        continue;
      }

      const verdict = lockCluster(batch, check.clusterLabel, route.allowed, policy, this.#clusterIndex);
      if (verdict === ClusterVerdict.RejectMismatch || verdict === ClusterVerdict.RejectMissing) {
        const reason = verdict === ClusterVerdict.RejectMismatch ? 'cluster_mismatch' : 'cluster_missing';
        const at = check.clusterLabel;
        this.#reject(s, reason, route, unknown, samples + histograms, rejections, () => this.#describeClusterProblem(s, at, principal, policy));
        anyReject = true;
        continue;
      }
      const cluster = this.#clusterIndex.value;

      if (route.labelLimits !== undefined) {
        const violation = checkLabelLimits(batch, s, route.labelLimits);
        if (violation !== undefined) {
          this.#reject(s, violation.reason, route, cluster, samples + histograms, rejections, () => this.#describeLabelLimit(s, violation, principal.tenant));
          anyReject = true;
          continue;
        }
      }

      // Samples too far in the future would move central Prometheus' head forward and make it
      // refuse every normal sample afterwards; samples older than the tenant's max_sample_age are
      // refused too. Either way: drop those samples, keep the series' good ones.
      let fate = check.shape === LabelShape.Clean && verdict === ClusterVerdict.Pass ? SeriesFate.Verbatim : SeriesFate.Rewrite;
      if ((batch.seriesMaxTimestampMs[s] as number) > maxTimestampMs || minTimestampMs > Number.NEGATIVE_INFINITY) {
        const out = this.#countOutOfWindow(s, minTimestampMs, maxTimestampMs);
        if (out.samples + out.histograms > 0) {
          anyReject = true;
          if (out.histograms > 0 || out.samples === samples) {
            // Histograms are copied whole, so a series with an out-of-window histogram is refused as a whole.
            const reason = out.old + out.oldHistograms > 0 ? 'too_old' : 'too_far_in_future';
            this.#reject(s, reason, route, cluster, samples + histograms, rejections, () => this.#describeTimestamps(s, reason, route, nowMs));
            continue;
          }
          const future = out.samples - out.old;
          if (future > 0) rejections.add('too_far_in_future', route.clusterName(cluster), future, false, () => this.#describeTimestamps(s, 'too_far_in_future', route, nowMs));
          if (out.old > 0) rejections.add('too_old', route.clusterName(cluster), out.old, false, () => this.#describeTimestamps(s, 'too_old', route, nowMs));
          this.#keptSamples[s] = samples - out.samples;
          fate = SeriesFate.Rewrite;
        }
      }

      if (fate === SeriesFate.Rewrite) anyRewrite = true;
      this.#fate[s] = fate;
      this.#verdict[s] = verdict;
      this.#seriesCluster[s] = cluster;
      this.#clusterLabelAt[s] = check.clusterLabel;
      this.#sorted[s] = check.sorted ? 1 : 0;
      clusterSeen[cluster] = 1;

      if (chain.active) {
        const outcome = this.#relabel(s, route, view);
        this.#outcomes[s] = outcome;
        if (outcome.clusterRestored > 0) clusterRestored++;
        if (outcome.droppedAt !== undefined) {
          // Dropped on purpose by a rule every backend shares: counted, not an error.
          const drop = sharedDrops[outcome.droppedAt];
          drop.series++;
          drop.samples += (this.#keptSamples[s] as number) + histograms;
          this.#fate[s] = SeriesFate.Out;
          this.#relabelTouched.fill(1);
          continue;
        }
        for (let b = 0; b < outcome.backends.length; b++) if (outcome.backends[b] !== 'unchanged') this.#relabelTouched[b] = 1;
      }
      acceptedExemplars += batch.seriesExemplarCount[s] as number;
    }

    // ---- high-water marks: samples not newer than what was accepted for their series are dropped
    // (counted, still 204). Passes of their own, measured faster than inside the loop above: the
    // keys, then the table's slots for them fetched at once (independent reads overlap their cache
    // misses), then the lookups and the filtering.
    const marks = this.#marks;
    if (marks !== undefined) {
      const seed = route.keySeed;
      // With relabeling, #relabel computed every key already.
      for (let s = 0; s < n && !chain.active; s++) {
        if (this.#fate[s] === SeriesFate.Out) continue;
        if ((batch.seriesSampleCount[s] as number) + (batch.seriesHistogramCount[s] as number) > 0) this.#hashSeriesKey(s, seed, view);
      }
      marks.prefetch(this.#keyLo, n);
    }
    const activeLimits = route.activeLimits;
    const active = activeLimits === undefined ? undefined : settings.activeSeries?.of(principal.tenant);
    if (active !== undefined && activeLimits !== undefined) active.expire(nowMs, activeLimits.windowMs);
    for (let s = 0; s < n; s++) {
      if (this.#fate[s] === SeriesFate.Out) continue;
      if (active !== undefined && activeLimits !== undefined) {
        // Every key is there already when relabeling ran; otherwise compute it (the high-water
        // mark skips series without samples).
        if (!chain.active) this.#hashSeriesKey(s, route.keySeed, view);
        const key = ((this.#keyHi[s] as number) >>> 11) * 0x1_0000_0000 + ((this.#keyLo[s] as number) >>> 0);
        const cluster = route.allowed.names[this.#seriesCluster[s] as number] as string;
        const admission = active.admit(key, cluster, nowMs, activeLimits);
        if (admission !== Admission.Admitted) {
          const reason = admission === Admission.OverTenantLimit ? 'max_active_series' : 'max_active_series_per_cluster';
          const total = (batch.seriesSampleCount[s] as number) + (batch.seriesHistogramCount[s] as number);
          const slot = this.#seriesCluster[s] as number;
          this.#reject(s, reason, route, slot, total, rejections, () => this.#describeActiveLimit(s, reason, principal.tenant, cluster, activeLimits));
          anyReject = true;
          acceptedExemplars -= batch.seriesExemplarCount[s] as number;
          continue;
        }
      }
      if (
        requestMarks !== undefined &&
        (batch.seriesSampleCount[s] as number) + (batch.seriesHistogramCount[s] as number) > 0 &&
        this.#applyHighWaterMark(s, requestMarks, maxTimestampMs)
      ) {
        this.#fate[s] = SeriesFate.Rewrite;
        anyRewrite = true;
      }
      const keptHistograms = this.#keptHistograms[s] as number;
      if (keptHistograms > 0) hasHistograms = true;
      const kept = (this.#keptSamples[s] as number) + keptHistograms;
      acceptedSamples += kept;
      const slot = this.#seriesCluster[s] as number;
      this.#clusterAcceptedSamples[slot] = (this.#clusterAcceptedSamples[slot] as number) + kept;
      this.#clusterAcceptedSeries[slot] = (this.#clusterAcceptedSeries[slot] as number) + 1;
    }

    // ---- route + encode: one queue item per (backend, shard) that receives data ----
    const items: QueueItemInput[] = [];
    const droppedHistograms = new Map<string, number>();
    for (let b = 0; b < settings.backends.length; b++) {
      const target = settings.backends[b] as RouteTarget;
      const tenantLabel = this.#tenantLabels[b];
      const dropHistograms = hasHistograms && !target.acceptsNativeHistograms;
      const shardOf = route.shardOf[b] as Int32Array;
      // Metadata has no labels: it goes with the token's first cluster.
      const metadataShard = shardOf[0] as number;
      const shardsUsed = this.#shardsUsed(n, shardOf, metadataShard, batch.metadataCount > 0);

      const unchanged =
        !anyRewrite && !anyReject && this.#relabelTouched[b] === 0 && tenantLabel === undefined && !dropHistograms && shardsUsed.length === 1;
      for (const shard of shardsUsed) {
        // Unchanged requests are forwarded as they arrived, still compressed: only count them.
        const counts = this.#encodeShard(n, b, shard, shardOf, route, tenantLabel, dropHistograms, metadataShard === shard, !unchanged);
        if (counts.droppedHistograms > 0) {
          droppedHistograms.set(target.name, (droppedHistograms.get(target.name) ?? 0) + counts.droppedHistograms);
        }
        if (counts.series === 0 && counts.metadata === 0) continue;
        const payload = unchanged ? body : compressBody(this.#encoder.finish());
        items.push({
          backend: target.name,
          shard,
          payload,
          samples: counts.samples,
          histograms: counts.histograms,
          exemplars: counts.exemplars,
          metadata: counts.metadata,
          tenant: principal.tenant,
        });
      }
    }

    for (const stage of ['global', 'tenant'] as const) {
      const drop = sharedDrops[stage];
      if (drop.series > 0) relabelDrops.push({ stage, backend: '', series: drop.series, samples: drop.samples });
    }
    for (let b = 0; b < settings.backends.length; b++) {
      const series = this.#backendDropSeries[b] as number;
      if (series > 0) relabelDrops.push({ stage: 'backend', backend: (settings.backends[b] as RouteTarget).name, series, samples: this.#backendDropSamples[b] as number });
    }
    // Outcomes are shared with the cache: let go of them with the request.
    if (chain.active) this.#outcomes.fill(undefined, 0, n);

    this.#releaseOversizedScratch();
    const clustersPushed: string[] = [];
    for (let i = 0; i < clusterSeen.length; i++) if (clusterSeen[i] === 1) clustersPushed.push(route.allowed.names[i] as string);
    return {
      clusterUsage: this.#clusterUsage(route, clusterSlots, rejections),
      items,
      seriesTotal: n,
      receivedSamples,
      acceptedSamples,
      acceptedExemplars,
      metadata: batch.metadataCount,
      clustersPushed,
      droppedHistograms,
      droppedOutOfOrder: this.#droppedOutOfOrder,
      droppedDuplicates: this.#droppedDuplicates,
      highWaterMarks: requestMarks === undefined ? MarkUpdate.EMPTY : requestMarks.take(),
      rejections,
      relabelDrops,
      relabelClusterRestored: clusterRestored,
      relabelCacheHits: this.#relabelCache.hits - cacheHits,
      relabelCacheMisses: this.#relabelCache.misses - cacheMisses,
    };
  }

  /**
   * The relabel outcome of series `s`, from the cache when this series (same label bytes, same
   * tenant, same cluster enforcement) was seen before. The chain's input is the series' labels as
   * enforced: empty values left out, the cluster label injected or overridden.
   */
  #relabel(s: number, route: PrincipalRoute, view: DataView): SeriesOutcome {
    const batch = this.#batch;
    const buf = batch.buf;
    const first = batch.seriesLabelFirst[s] as number;
    const last = first + (batch.seriesLabelCount[s] as number) - 1;
    const from = batch.labelBlockStart(s);
    const to = batch.labelBlockEnd(s);
    const verdict = this.#verdict[s] as ClusterVerdict;
    // The label bytes decide the chain's input, unless the cluster was injected or overridden:
    // then so does the token's cluster.
    const cluster = verdict === ClusterVerdict.Pass ? '' : (route.allowed.names[this.#seriesCluster[s] as number] as string);
    // The high-water-mark key of the series: computed here once, used by both.
    this.#hashSeriesKey(s, route.keySeed, view);
    const hash = ((this.#keyHi[s] as number) >>> 11) * 0x1_0000_0000 + ((this.#keyLo[s] as number) >>> 0);
    const tenant = route.tenant;
    const cache = this.#relabelCache;
    const cached = cache.get(hash, buf, from, to, tenant, verdict, cluster);
    if (cached !== undefined) return cached;

    const input = new Map<string, string>();
    for (let k = first; k <= last; k++) {
      const value = buf.toString('utf8', batch.valueStart[k], batch.valueEnd[k]);
      if (value !== '') input.set(buf.toString('utf8', batch.nameStart[k], batch.nameEnd[k]), value);
    }
    if (verdict === ClusterVerdict.Override) {
      const at = this.#clusterLabelAt[s] as number;
      input.set(this.#exportedClusterLabel.toString(), buf.toString('utf8', batch.valueStart[at], batch.valueEnd[at]));
    }
    if (verdict !== ClusterVerdict.Pass) input.set(this.#settings.clusterLabel, cluster);
    const outcome = route.chain.run(input);
    cache.set(hash, buf, from, to, tenant, verdict, cluster, outcome);
    return outcome;
  }

  /** The high-water-mark key of series `s` (tenant + label bytes as they arrived) into #keyLo/#keyHi. */
  #hashSeriesKey(s: number, seed: SeriesKey, view: DataView): void {
    const batch = this.#batch;
    // A series that got here has at least one label (an empty label set is rejected).
    const key = this.#key;
    hashSeriesKey(view, batch.buf, batch.labelBlockStart(s), batch.labelBlockEnd(s), seed, key);
    this.#keyLo[s] = key.lo;
    this.#keyHi[s] = key.hi;
  }

  /**
   * Filter series `s` by its high-water mark: in wire order, float samples and then histograms,
   * keep each one newer than the mark and raise the mark to it; one not newer is dropped
   * (`out_of_order` when older, `duplicate_sample` when equal). Samples too far in the future were
   * counted already and are skipped here, as the encoder skips them. Sets the series' kept counts
   * and its mark before it; returns whether anything was dropped.
   */
  #applyHighWaterMark(s: number, requestMarks: RequestMarks, maxTimestampMs: number): boolean {
    const batch = this.#batch;
    const entry = requestMarks.entry(this.#keyLo[s] as number, this.#keyHi[s] as number);
    const before = requestMarks.mark(entry);
    this.#afterMs[s] = before;

    let mark = before;
    let older = 0;
    let same = 0;
    let keptSamples = 0;
    const first = batch.seriesSampleFirst[s] as number;
    const end = first + (batch.seriesSampleCount[s] as number);
    const timestamps = batch.sampleTimestampMs;
    for (let k = first; k < end; k++) {
      const t = timestamps[k] as number;
      if (t > maxTimestampMs || t < this.#minTimestampMs) continue;
      if (t > mark) {
        mark = t;
        keptSamples++;
      } else if (t === mark) same++;
      else older++;
    }
    let keptHistograms = 0;
    const hFirst = batch.seriesHistogramFirst[s] as number;
    const hEnd = hFirst + (batch.seriesHistogramCount[s] as number);
    const hTimestamps = batch.histogramTimestampMs;
    for (let k = hFirst; k < hEnd; k++) {
      const t = hTimestamps[k] as number;
      if (t > mark) {
        mark = t;
        keptHistograms++;
      } else if (t === mark) same++;
      else older++;
    }
    this.#keptSamples[s] = keptSamples;
    this.#keptHistograms[s] = keptHistograms;
    if (mark > before) requestMarks.setMark(entry, mark);
    if (older + same === 0) return false;
    this.#droppedOutOfOrder += older;
    this.#droppedDuplicates += same;
    return true;
  }

  #routeFor(principal: Principal): PrincipalRoute {
    let route = this.#routes.get(principal);
    if (route === undefined) {
      const settings = this.#settings;
      const chain = new TenantChain(this.#relabelStages, principal.tenant, settings.backends.length, settings.clusterLabel);
      route = new PrincipalRoute(principal, settings.backends, chain, settings);
      this.#routes.set(principal, route);
    }
    return route;
  }

  /** Refuse series `s` whole; counted for cluster slot `cluster` of the route. */
  #reject(
    s: number,
    reason: Parameters<RejectionSummary['add']>[0],
    route: PrincipalRoute,
    cluster: number,
    samples: number,
    rejections: RejectionSummary,
    describe: () => string,
  ): void {
    this.#fate[s] = SeriesFate.Out;
    rejections.add(reason, route.clusterName(cluster), samples, true, describe);
  }

  /** Samples and histograms of series `s` outside [min, max], and how many of each are too old. */
  #countOutOfWindow(s: number, minTimestampMs: number, maxTimestampMs: number): { samples: number; old: number; histograms: number; oldHistograms: number } {
    const batch = this.#batch;
    const first = batch.seriesSampleFirst[s] as number;
    const floats = countOutside(batch.sampleTimestampMs, first, first + (batch.seriesSampleCount[s] as number), minTimestampMs, maxTimestampMs);
    const hFirst = batch.seriesHistogramFirst[s] as number;
    const histograms = countOutside(batch.histogramTimestampMs, hFirst, hFirst + (batch.seriesHistogramCount[s] as number), minTimestampMs, maxTimestampMs);
    return { samples: floats.outside, old: floats.old, histograms: histograms.outside, oldHistograms: histograms.old };
  }

  /** Accepted (from this request's counters) and refused (from the summary) data per cluster. */
  #clusterUsage(route: PrincipalRoute, slots: number, rejections: RejectionSummary): ClusterUsage[] {
    const usage: ClusterUsage[] = [];
    const rejected = new Map<string, { series: number; samples: number }>();
    for (const [cluster, byReason] of rejections.byCluster) {
      const total = { series: 0, samples: 0 };
      for (const count of byReason.values()) {
        total.series += count.series;
        total.samples += count.samples;
      }
      rejected.set(cluster, total);
    }
    for (let i = 0; i < slots; i++) {
      const cluster = route.clusterName(i);
      const refused = rejected.get(cluster);
      const acceptedSeries = this.#clusterAcceptedSeries[i] as number;
      if (acceptedSeries === 0 && refused === undefined) continue;
      usage.push({
        cluster,
        acceptedSamples: this.#clusterAcceptedSamples[i] as number,
        acceptedSeries,
        rejectedSamples: refused?.samples ?? 0,
        rejectedSeries: refused?.series ?? 0,
      });
    }
    return usage;
  }

  /** Distinct shards of this backend that get series (or the metadata) of this request. */
  #shardsUsed(n: number, shardOf: Int32Array, metadataShard: number, hasMetadata: boolean): number[] {
    const used: number[] = [];
    if (hasMetadata) used.push(metadataShard);
    for (let s = 0; s < n; s++) {
      if (this.#fate[s] === SeriesFate.Out) continue;
      const shard = shardOf[this.#seriesCluster[s] as number] as number;
      if (used.length === 0 || (used[0] !== shard && !used.includes(shard))) used.push(shard);
    }
    return used;
  }

  /** Encode the series of one shard (and the metadata, if it goes there) into the encoder. */
  #encodeShard(
    n: number,
    backend: number,
    shard: number,
    shardOf: Int32Array,
    route: PrincipalRoute,
    tenantLabel: Buffer | undefined,
    dropHistograms: boolean,
    withMetadata: boolean,
    encode: boolean,
  ): { series: number; samples: number; histograms: number; exemplars: number; metadata: number; droppedHistograms: number } {
    const batch = this.#batch;
    const enc = this.#encoder;
    enc.reset();
    let series = 0;
    let samples = 0;
    let histograms = 0;
    let exemplars = 0;
    let dropped = 0;
    for (let s = 0; s < n; s++) {
      const fate = this.#fate[s] as SeriesFate;
      if (fate === SeriesFate.Out) continue;
      if ((shardOf[this.#seriesCluster[s] as number] as number) !== shard) continue;
      const keptSamples = this.#keptSamples[s] as number;
      const seriesHistograms = batch.seriesHistogramCount[s] as number;
      const seriesExemplars = batch.seriesExemplarCount[s] as number;
      // Histograms the high-water mark kept, and of those what this backend takes.
      const acceptedHistograms = this.#keptHistograms[s] as number;
      const keptHistograms = dropHistograms ? 0 : acceptedHistograms;
      dropped += acceptedHistograms - keptHistograms;
      // A series left with nothing but exemplars is still sent: exemplars are not subject to the
      // mark (a backend never refuses a batch for an old or repeated exemplar).
      if (keptSamples + keptHistograms + seriesExemplars === 0) continue;
      // Only a tenant with rules has outcomes: the common path does not look.
      const relabeled = route.chain.active ? (this.#outcomes[s] as SeriesOutcome).backends[backend] : undefined;
      if (relabeled === 'dropped') {
        this.#backendDropSeries[backend] = (this.#backendDropSeries[backend] as number) + 1;
        this.#backendDropSamples[backend] = (this.#backendDropSamples[backend] as number) + keptSamples + keptHistograms;
        continue;
      }
      series++;
      samples += keptSamples;
      histograms += keptHistograms;
      exemplars += seriesExemplars;
      if (!encode) continue;
      if (relabeled !== undefined && relabeled !== 'unchanged') {
        this.#writeRelabeledSeries(s, relabeled, route, tenantLabel, keptHistograms > 0);
        continue;
      }
      if (fate === SeriesFate.Verbatim && tenantLabel === undefined && keptHistograms === seriesHistograms) {
        enc.copySeries(batch, s);
        continue;
      }
      this.#rewriteSeries(s, route, tenantLabel, keptHistograms > 0);
    }
    let metadata = 0;
    if (withMetadata) {
      if (encode) for (let m = 0; m < batch.metadataCount; m++) enc.copyMetadata(batch, m);
      metadata = batch.metadataCount;
    }
    return { series, samples, histograms, exemplars, metadata, droppedHistograms: dropped };
  }

  /** Re-emit series `s` with its labels merged with the extra ones, sorted, empty values left out. */
  #rewriteSeries(s: number, route: PrincipalRoute, tenantLabel: Buffer | undefined, keepHistograms: boolean): void {
    const batch = this.#batch;
    const enc = this.#encoder;
    const extras = this.#extras;
    extras.reset();
    const verdict = this.#verdict[s] as ClusterVerdict;
    const clusterIdx = this.#seriesCluster[s] as number;
    if (verdict === ClusterVerdict.Inject || verdict === ClusterVerdict.Override) {
      extras.add(this.#clusterLabel, route.allowed.bytes[clusterIdx] as Buffer);
    }
    if (verdict === ClusterVerdict.Override) {
      const at = this.#clusterLabelAt[s] as number;
      // Keep what the series claimed, as Prometheus does with honor_labels: false.
      extras.add(this.#exportedClusterLabel, Buffer.from(batch.buf.subarray(batch.valueStart[at], batch.valueEnd[at])));
    }
    // The tenant label is authoritative: it replaces a label of the same name.
    if (tenantLabel !== undefined) extras.add(tenantLabel, route.tenantBytes);

    const first = batch.seriesLabelFirst[s] as number;
    const count = batch.seriesLabelCount[s] as number;
    const order = this.#sorted[s] === 1 ? undefined : sortedLabelOrder(batch, s);
    const buf = batch.buf;
    enc.beginSeries();
    let e = 0;
    for (let j = 0; j < count; j++) {
      const k = order === undefined ? first + j : (order[j] as number);
      const ns = batch.nameStart[k] as number;
      const ne = batch.nameEnd[k] as number;
      // Emit the extras that sort before this label; an extra with the same name replaces it.
      let replaced = false;
      while (e < extras.count) {
        const extra = extras.names[e] as Buffer;
        const cmp = compareBytes(buf, ns, ne, extra, 0, extra.length);
        // < 0: the batch label comes first.
        if (cmp < 0) break;
        if (cmp === 0) replaced = true;
        enc.addLabel(extras.names[e] as Buffer, extras.values[e] as Buffer);
        e++;
      }
      if (replaced || batch.valueEnd[k] === batch.valueStart[k]) continue;
      enc.addBatchLabel(batch, k);
    }
    for (; e < extras.count; e++) enc.addLabel(extras.names[e] as Buffer, extras.values[e] as Buffer);
    this.#addSeriesData(s, keepHistograms);
    enc.endSeries();
  }

  /** Emit series `s` with the labels relabeling gave it, plus the tenant label (which rules cannot change). */
  #writeRelabeledSeries(s: number, labels: RelabeledLabels, route: PrincipalRoute, tenantLabel: Buffer | undefined, keepHistograms: boolean): void {
    const enc = this.#encoder;
    const { encoded, starts, names } = labels;
    enc.beginSeries();
    if (tenantLabel === undefined) enc.addEncodedLabels(encoded, 0, encoded.length);
    else {
      // The tenant label goes in its sorted place, replacing a label of the same name.
      let at = 0;
      while (at < names.length && Buffer.compare(names[at] as Buffer, tenantLabel) < 0) at++;
      enc.addEncodedLabels(encoded, 0, starts[at] as number);
      enc.addLabel(tenantLabel, route.tenantBytes);
      const resume = at < names.length && (names[at] as Buffer).equals(tenantLabel) ? at + 1 : at;
      enc.addEncodedLabels(encoded, starts[resume] as number, encoded.length);
    }
    this.#addSeriesData(s, keepHistograms);
    enc.endSeries();
  }

  /** The samples, exemplars and (if kept) histograms of series `s` that go out. */
  #addSeriesData(s: number, keepHistograms: boolean): void {
    const batch = this.#batch;
    const enc = this.#encoder;
    if (this.#marks === undefined) {
      enc.addSamples(batch, s, this.#maxTimestampMs, this.#minTimestampMs);
      enc.addExemplars(batch, s);
      if (keepHistograms) enc.addHistograms(batch, s);
    } else {
      // Exactly what #applyHighWaterMark counted as kept: floats, then histograms, strictly newer.
      const mark = enc.addIncreasingSamples(batch, s, this.#afterMs[s] as number, this.#maxTimestampMs, this.#minTimestampMs);
      enc.addExemplars(batch, s);
      if (keepHistograms) enc.addIncreasingHistograms(batch, s, mark);
    }
  }

  /**
   * Scratch buffers keep the capacity of the largest request seen. After a hostile or unusually
   * large request, start over so memory returns to normal instead of staying at the peak.
   */
  #releaseOversizedScratch(): void {
    if (this.#batch.labelCount > SCRATCH_LABELS_KEPT || this.#batch.sampleCount > SCRATCH_SAMPLES_KEPT) {
      this.#batch = new WireBatch();
      this.#encoder = new WriteRequestEncoder();
    }
  }

  #ensureCapacity(n: number): void {
    if (this.#fate.length >= n) return;
    let size = this.#fate.length;
    while (size < n) size *= 2;
    this.#fate = new Uint8Array(size);
    this.#verdict = new Uint8Array(size);
    this.#seriesCluster = new Int32Array(size);
    this.#clusterLabelAt = new Int32Array(size);
    this.#sorted = new Uint8Array(size);
    this.#keptSamples = new Uint32Array(size);
    this.#keptHistograms = new Uint32Array(size);
    this.#afterMs = new Float64Array(size);
    this.#keyLo = new Int32Array(size);
    this.#keyHi = new Int32Array(size);
    this.#outcomes = new Array<SeriesOutcome | undefined>(size).fill(undefined);
  }

  // ---- messages (built only for the first rejection of a request) ----

  #describeLabelProblem(s: number, reason: string | undefined, badLabel: number): string {
    const batch = this.#batch;
    const series = renderSeries(batch, s);
    const name = badLabel >= 0 ? batch.buf.toString('utf8', batch.nameStart[badLabel], batch.nameEnd[badLabel]) : '';
    switch (reason) {
      case 'invalid_label_name':
        return `series ${series} has invalid label name ${JSON.stringify(name)}: label names must match [a-zA-Z_][a-zA-Z0-9_]*`;
      case 'empty_label_name':
        return `series ${series} has a label with an empty name`;
      case 'duplicate_label':
        return `series ${series} has label ${JSON.stringify(name)} more than once`;
      case 'invalid_utf8':
        return `series ${series} has label ${JSON.stringify(name)} whose value is not valid UTF-8`;
      case 'empty_labelset':
        return `a series has no labels (or only labels with empty values)`;
      case 'missing_metric_name':
        return `series ${series} has no __name__ label`;
      default:
        return `series ${series} is invalid`;
    }
  }

  #describeClusterProblem(s: number, clusterLabel: number, principal: Principal, policy: ClusterLockPolicy): string {
    const batch = this.#batch;
    const series = renderSeries(batch, s);
    const label = this.#settings.clusterLabel;
    const allowed = principal.allowedClusters.map((c) => JSON.stringify(c)).join(', ');
    const who = `token ${principal.tokenId} (tenant ${principal.tenant})`;
    if (clusterLabel >= 0) {
      const value = batch.buf.toString('utf8', batch.valueStart[clusterLabel], batch.valueEnd[clusterLabel]);
      const hint =
        policy.mismatch === 'override' && principal.allowedClusters.length > 1
          ? `; cluster_lock.mismatch: override needs a token bound to exactly one cluster`
          : `; fix the series' ${label} label on the sender, or set cluster_lock.mismatch: override for this tenant`;
      return `series ${series} has ${label}=${JSON.stringify(value)} but ${who} may only write ${label} ${allowed}${hint}`;
    }
    if (policy.missing === 'require') {
      return `series ${series} has no ${label} label and tenant ${principal.tenant} requires it (cluster_lock.missing: require); set external_labels: {${label}: ...} on the sender; ${who} may write ${label} ${allowed}`;
    }
    return `series ${series} has no ${label} label and ${who} may write several clusters (${allowed}), so none can be injected; set external_labels: {${label}: ...} on the sender`;
  }

  #describeActiveLimit(s: number, reason: 'max_active_series' | 'max_active_series_per_cluster', tenant: string, cluster: string, limits: ActiveSeriesLimits): string {
    const window = `${limits.windowMs / 60_000}m`;
    const where =
      reason === 'max_active_series'
        ? `tenant ${tenant} has ${limits.maxActiveSeries} active series, its max_active_series`
        : `cluster ${cluster} of tenant ${tenant} has ${limits.maxActiveSeriesPerCluster} active series, its max_active_series_per_cluster`;
    return `series ${renderSeries(this.#batch, s)} is new and ${where} (active: a sample within ${window}); series already active keep flowing`;
  }

  #describeLabelLimit(s: number, v: LabelLimitViolation, tenant: string): string {
    const batch = this.#batch;
    const series = renderSeries(batch, s);
    if (v.reason === 'max_label_names_per_series') {
      return `series ${series} has ${batch.seriesLabelCount[s]} labels, more than tenant ${tenant}'s max_label_names_per_series (${v.limit})`;
    }
    const name = batch.buf.toString('utf8', batch.nameStart[v.label], Math.min(batch.nameEnd[v.label] as number, (batch.nameStart[v.label] as number) + 64));
    if (v.reason === 'label_name_too_long') {
      return `series ${series} has a label name of ${(batch.nameEnd[v.label] as number) - (batch.nameStart[v.label] as number)} bytes (${JSON.stringify(name)}...), more than tenant ${tenant}'s max_label_name_length (${v.limit})`;
    }
    return `series ${series} has label ${JSON.stringify(name)} with a value of ${(batch.valueEnd[v.label] as number) - (batch.valueStart[v.label] as number)} bytes, more than tenant ${tenant}'s max_label_value_length (${v.limit})`;
  }

  #describeTimestamps(s: number, reason: 'too_far_in_future' | 'too_old', route: PrincipalRoute, nowMs: number): string {
    const series = renderSeries(this.#batch, s);
    if (reason === 'too_far_in_future') {
      const after = new Date(nowMs + route.futureGraceMs).toISOString();
      return `series ${series} has samples after ${after}, more than ${formatSeconds(route.futureGraceMs)} ahead of tributary's clock (future_grace of tenant ${route.tenant}); check the sender's clock`;
    }
    const before = new Date(nowMs - route.maxSampleAgeMs).toISOString();
    return `series ${series} has samples before ${before}, older than tenant ${route.tenant}'s max_sample_age (${formatSeconds(route.maxSampleAgeMs)}); a sender replaying an old backlog, or a clock behind`;
  }
}

function formatSeconds(ms: number): string {
  return `${ms / 1000}s`;
}

/** Of timestamps[first, end): how many are outside [min, max], and how many of those before min. */
function countOutside(timestamps: Float64Array, first: number, end: number, minMs: number, maxMs: number): { outside: number; old: number } {
  let outside = 0;
  let old = 0;
  for (let k = first; k < end; k++) {
    const t = timestamps[k] as number;
    if (t > maxMs) outside++;
    else if (t < minMs) {
      outside++;
      old++;
    }
  }
  return { outside, old };
}
