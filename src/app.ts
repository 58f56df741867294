/**
 * buildApp(deps): the fastify application, with everything injected (no globals) so tests can
 * run many in one process with `app.inject()`. Never calls listen.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import { type AdminDeps, registerAdminRoutes } from './admin/routes.js';
import { requestCluster } from './auth/principal.js';
import { InternalError, RejectedSeriesError, TributaryError } from './errors.js';
import { REFUSED_REQUEST, WRITE_PATH, registerWriteRoute, translateFastifyError, type WriteRouteDeps } from './ingest/write-route.js';
import { LogThrottle } from './observability/throttled-log.js';

export interface AppDeps extends WriteRouteDeps {
  readonly logger: Logger;
  /** The admin API (/admin/v1/...); left out in tests of the write path alone. */
  readonly admin?: AdminDeps;
  /** Ready = config loaded, state open, not shutting down. */
  isReady(): boolean;
}

export function buildApp(deps: AppDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // One log line per refusal comes from our error handler (throttled); none per request.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.maxBodyBytes,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && given.length > 0 && given.length <= 128 ? given : randomUUID();
    },
    // Edge Prometheus keeps connections open; let fastify close idle ones slowly.
    keepAliveTimeout: 65_000,
  });
  const metrics = deps.metrics;
  const throttle = new LogThrottle();

  app.setErrorHandler((rawError, request, reply) => {
    const fastifyError = rawError as { code?: string; statusCode?: number; message?: string };
    let error: TributaryError;
    if (rawError instanceof TributaryError) {
      error = rawError;
    } else {
      const translated = translateFastifyError(fastifyError, deps.maxBodyBytes);
      error = translated ?? new InternalError(`internal error (request id ${request.id})`);
      if (translated === undefined) request.log.error({ err: rawError, reqId: request.id }, 'BUG: unexpected error while handling a request');
    }
    const principal = request.principal;
    const tenant = principal?.tenant ?? '';
    if (!(error instanceof RejectedSeriesError)) {
      // Whole-request refusals; partial rejections were counted per series by the route.
      const cluster = principal === null ? '' : requestCluster(principal);
      metrics.ingestRejectedRequests.labels(tenant, cluster, error.reason).inc();
      if (principal !== null) deps.usage?.record(tenant, cluster, REFUSED_REQUEST, deps.now());
    }
    const suppressed = throttle.allow(`${tenant}/${error.reason}`);
    if (suppressed >= 0) {
      const fields = { reqId: request.id, tenant, reason: error.reason, status: error.status, suppressed, client_error: error.status < 500 };
      if (error.status >= 500 && error.reason === 'internal') request.log.error(fields, error.message);
      else request.log.warn(fields, error.message);
    }
    if (error.retryAfterSeconds !== undefined) void reply.header('retry-after', String(error.retryAfterSeconds));
    void reply.code(error.status).type('text/plain; charset=utf-8').send(`${error.body()}\n`);
  });

  app.addHook('onResponse', async (request, reply) => {
    if (request.routeOptions.url !== WRITE_PATH) return;
    const code = String(reply.statusCode);
    metrics.ingestRequests.labels(request.principal?.tenant ?? '', code).inc();
    metrics.ingestRequestDuration.labels(code).observe(reply.elapsedTime / 1000);
  });

  registerWriteRoute(app, deps);
  if (deps.admin !== undefined) registerAdminRoutes(app, deps.admin);

  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
  app.get('/-/healthy', async (_request, reply) => reply.type('text/plain').send('tributary is healthy.\n'));
  app.get('/-/ready', async (_request, reply) => {
    if (deps.isReady()) return reply.type('text/plain').send('tributary is ready.\n');
    return reply.code(503).type('text/plain').send('tributary is not ready.\n');
  });

  return app;
}
