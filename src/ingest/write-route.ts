/**
 * `POST /api/v1/write`: authenticate and admit before reading the body, run the pipeline, append
 * to the queue, and answer only once the queue took the data (2xx means queued).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type Principal, requestCluster } from '../auth/principal.js';
import { BackpressureError, type DropReason, MethodNotAllowedError, TributaryError } from '../errors.js';
import type { TenantLimits } from '../limits/limits.js';
import type { RateLimiter } from '../limits/rate-limiter.js';
import type { Metrics } from '../observability/metrics.js';
import { LogThrottle } from '../observability/throttled-log.js';
import type { WritePipeline, WriteResult } from '../pipeline.js';
import type { WriteQueue } from '../queue/queue.js';
import type { UsageDelta } from '../usage/types.js';
import { bodyTooLarge, checkDeclaredLength, checkMediaType } from './admit.js';

export const WRITE_PATH = '/api/v1/write';
const EMPTY_BODY = Buffer.alloc(0);

/** What the route asks about a tenant, before the body is read. */
export interface TenantGate {
  /** Throws a 403 `tenant_disabled` ForbiddenError when an operator disabled the tenant. */
  check(tenant: string): void;
  /** The tenant's effective limits (config defaults, its config, admin overrides). */
  limitsOf(tenant: string): TenantLimits;
}

/** Where usage is counted (per tenant, cluster and hour). */
export interface UsageSink {
  record(tenant: string, cluster: string, delta: UsageDelta, nowMs: number): void;
}

/** A request refused whole, as usage counts it. */
export const REFUSED_REQUEST: UsageDelta = Object.freeze({
  acceptedSamples: 0,
  rejectedSamples: 0,
  acceptedSeries: 0,
  rejectedSeries: 0,
  requests: 1,
  rejectedRequests: 1,
});

export interface WriteRouteDeps {
  readonly metrics: Metrics;
  readonly queue: WriteQueue;
  /** Turns the Authorization header into a principal, or throws a 401/403 TributaryError. */
  authenticate(authorization: string | undefined): Principal;
  /** The pipeline of the config in force (swapped on reload). */
  pipeline(): WritePipeline;
  /** Per-tenant rate limits (reconfigured on reload, never replaced). */
  readonly limiter: RateLimiter;
  readonly tenants: TenantGate;
  readonly usage?: UsageSink | undefined;
  readonly maxBodyBytes: number;
  now(): number;
  isShuttingDown(): boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function registerWriteRoute(app: FastifyInstance, deps: WriteRouteDeps): void {
  app.decorateRequest('principal', null);

  // The body is taken as raw bytes whatever the content type says: the media type was checked
  // in onRequest already, and remote write has only one body format per version.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: deps.maxBodyBytes }, (_req, body, done) => {
    done(null, body);
  });

  const backends = () => deps.pipeline().settings.backends;
  const clusterGuardLog = new LogThrottle();

  app.route<{ Body: Buffer }>({
    method: 'POST',
    url: WRITE_PATH,
    bodyLimit: deps.maxBodyBytes,
    onRequest: async (request) => {
      if (deps.isShuttingDown()) {
        throw new BackpressureError('shutting_down', 'tributary is shutting down; the sender keeps the data and retries', 5);
      }
      checkDeclaredLength(header(request, 'content-length'), deps.maxBodyBytes);
      checkMediaType(header(request, 'content-type'), header(request, 'content-encoding'));
      request.principal = deps.authenticate(header(request, 'authorization'));
      const tenant = request.principal.tenant;
      deps.tenants.check(tenant);
      const bodyCap = deps.tenants.limitsOf(tenant).max_body_bytes;
      if (bodyCap > 0) checkDeclaredLength(header(request, 'content-length'), bodyCap, tenantBodyLimit(tenant));
      // Before the body is read: a tenant over its rate costs no decode work.
      deps.limiter.admit(tenant, deps.now());
      for (const backend of backends()) {
        if (!deps.queue.hasRoom(backend.name)) {
          throw new BackpressureError(
            'queue_full',
            `the queue of backend ${backend.name} is full (max_queue_bytes); the sender keeps the data and retries`,
            10,
          );
        }
      }
    },
    handler: async (request, reply) => {
      const principal = request.principal as Principal;
      // No body at all is not snappy: 400 bad_snappy, as Prometheus' own receiver answers.
      const body = Buffer.isBuffer(request.body) ? request.body : EMPTY_BODY;
      // A sender that declared no length (chunked) is measured here.
      const bodyCap = deps.tenants.limitsOf(principal.tenant).max_body_bytes;
      if (bodyCap > 0 && body.length > bodyCap) throw bodyTooLarge(body.length, bodyCap, tenantBodyLimit(principal.tenant));
      const result = deps.pipeline().process(principal, body, deps.now());
      try {
        // The caps see the request as sent; the rate, what it would add (as Mimir counts it).
        const counts = { series: result.seriesTotal, samples: result.receivedSamples, exemplars: result.acceptedExemplars, metadata: result.metadata };
        deps.limiter.takeSamples(principal.tenant, counts, deps.now(), result.acceptedSamples + result.acceptedExemplars + result.metadata);
      } catch (err) {
        if (err instanceof TributaryError) {
          const cluster = requestCluster(principal);
          deps.metrics.ingestRejectedSamples.labels(principal.tenant, cluster, err.reason).inc(result.receivedSamples);
          deps.usage?.record(
            principal.tenant,
            cluster,
            { acceptedSamples: 0, rejectedSamples: result.receivedSamples, acceptedSeries: 0, rejectedSeries: result.seriesTotal, requests: 0, rejectedRequests: 0 },
            deps.now(),
          );
        }
        throw err;
      }
      if (result.items.length > 0) await deps.queue.append(result.items);
      // Only now is the data accepted. Had the append failed (503), the marks would stay as they
      // were, and the sender's retry of these samples would not be dropped as a resend.
      result.highWaterMarks.commit();
      countAccepted(deps.metrics, principal, result, deps.now());
      if (deps.usage !== undefined) recordUsage(deps.usage, principal, result, deps.now());
      if (result.relabelClusterRestored > 0) {
        const suppressed = clusterGuardLog.allow(principal.tenant);
        if (suppressed >= 0) {
          request.log.warn(
            { tenant: principal.tenant, series: result.relabelClusterRestored, suppressed },
            'a relabel rule changed the cluster label of series; tributary put the enforced value back (fix the rule: see tributary relabel --explain)',
          );
        }
      }
      if (!result.rejections.isEmpty) throw result.rejections.toError(result.seriesTotal);
      return reply.code(204).send();
    },
  });

  app.route({
    method: ['GET', 'PUT', 'DELETE', 'PATCH'],
    url: WRITE_PATH,
    handler: async () => {
      throw new MethodNotAllowedError('remote write takes POST only');
    },
  });
}

/** Counts once per request (never per series); label children are cached by prom-client. */
function countAccepted(metrics: Metrics, principal: Principal, result: WriteResult, nowMs: number): void {
  const tenant = principal.tenant;
  metrics.ingestReceivedSamples.labels(tenant).inc(result.receivedSamples);
  metrics.ingestAcceptedSamples.labels(tenant).inc(result.acceptedSamples);
  if (result.acceptedExemplars > 0) metrics.ingestExemplars.labels(tenant).inc(result.acceptedExemplars);
  if (result.metadata > 0) metrics.ingestMetadata.labels(tenant).inc(result.metadata);
  for (const cluster of result.clustersPushed) metrics.clusterLastPush.labels(tenant, cluster).set(nowMs / 1000);
  const dropReason: DropReason = 'native_histograms_unsupported';
  for (const [backend, n] of result.droppedHistograms) metrics.droppedSamples.labels(backend, dropReason).inc(n);
  if (result.droppedOutOfOrder > 0) metrics.ingestDroppedSamples.labels(tenant, 'out_of_order' satisfies DropReason).inc(result.droppedOutOfOrder);
  if (result.droppedDuplicates > 0) metrics.ingestDroppedSamples.labels(tenant, 'duplicate_sample' satisfies DropReason).inc(result.droppedDuplicates);
  for (const drop of result.relabelDrops) {
    metrics.relabelDroppedSeries.labels(tenant, drop.stage, drop.backend).inc(drop.series);
    metrics.relabelDroppedSamples.labels(tenant, drop.stage, drop.backend).inc(drop.samples);
  }
  if (result.relabelClusterRestored > 0) metrics.relabelClusterRestored.labels(tenant).inc(result.relabelClusterRestored);
  if (result.relabelCacheHits > 0) metrics.relabelCacheLookups.labels('hit').inc(result.relabelCacheHits);
  if (result.relabelCacheMisses > 0) metrics.relabelCacheLookups.labels('miss').inc(result.relabelCacheMisses);
  for (const [cluster, byReason] of result.rejections.byCluster) {
    for (const [reason, count] of byReason) {
      metrics.ingestRejectedSamples.labels(tenant, cluster, reason).inc(count.samples);
      if (count.series > 0) metrics.ingestRejectedSeries.labels(tenant, cluster, reason).inc(count.series);
    }
  }
}

/** The request under the token's cluster, the data under the clusters it named. */
function recordUsage(usage: UsageSink, principal: Principal, result: WriteResult, nowMs: number): void {
  const tenant = principal.tenant;
  usage.record(tenant, requestCluster(principal), { ...NO_USAGE, requests: 1 }, nowMs);
  for (const c of result.clusterUsage) {
    usage.record(
      tenant,
      c.cluster,
      { acceptedSamples: c.acceptedSamples, rejectedSamples: c.rejectedSamples, acceptedSeries: c.acceptedSeries, rejectedSeries: c.rejectedSeries, requests: 0, rejectedRequests: 0 },
      nowMs,
    );
  }
}

const NO_USAGE: UsageDelta = Object.freeze({ acceptedSamples: 0, rejectedSamples: 0, acceptedSeries: 0, rejectedSeries: 0, requests: 0, rejectedRequests: 0 });

function tenantBodyLimit(tenant: string): string {
  return `tenant ${tenant}'s max_body_bytes`;
}

/** fastify's own body-size error, translated so metrics and messages stay uniform. */
export function translateFastifyError(error: { code?: string; statusCode?: number }, maxBodyBytes: number): TributaryError | undefined {
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return bodyTooLarge(undefined, maxBodyBytes);
  return undefined;
}
