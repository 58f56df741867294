/**
 * The admin HTTP API (`/admin/v1/...`): tenants (create, disable, enable, limit overrides), tokens
 * (create, list, revoke) and usage, for operators and their automation.
 *
 * Everything lives in one encapsulated fastify plugin with its own error handler (JSON errors, not
 * the remote-write text bodies) and its own JSON body parser: the remote-write route removes every
 * content type parser at the root and takes any body as raw bytes, which a child plugin would
 * otherwise inherit.
 *
 * Every route needs the admin token (`admin.token_file` / `admin.token_sha256`), compared by its
 * SHA-256 in constant time. A tenant token never works here: it is a different secret. Without an
 * admin token in the config, every route answers 404 saying how to turn the API on.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parseAuthorization } from '../auth/authenticator.js';
import { generateToken, generateTokenId, hashesEqual, hashToken } from '../auth/token.js';
import type { Config } from '../config/schema.js';
import { parseTimeBack } from '../config/units.js';
import { UnauthenticatedError } from '../errors.js';
import type { TenantLimitOverrides, TenantLimits } from '../limits/limits.js';
import type { Database } from '../state/db.js';
import { isLimitField, LIMIT_FIELDS, TenantsRepo } from '../state/tenants-repo.js';
import { TokensRepo } from '../state/tokens-repo.js';
import { applyOverrides, checkOverrides, parseLimitOverrides } from '../tenants/effective-limits.js';
import { changeOverrides, setTenantDisabled } from '../tenants/tenant-changes.js';
import {
  type KnownTenant,
  TENANT_NAME_RE,
  TENANT_NAME_RULE,
  TenantCatalog,
  tenantDetailJson,
  tenantSummaryJson,
  tokenInfoOf,
  tokenJson,
} from '../tenants/tenant-catalog.js';
import type { UsageFilter, UsageRow } from '../usage/types.js';

export const ADMIN_PREFIX = '/admin/v1';

/** Admin requests are small JSON documents; refuse anything larger before parsing it. */
const ADMIN_BODY_LIMIT_BYTES = 1024 * 1024;

/** The window `GET /usage` covers when `since` is not given. */
const DEFAULT_USAGE_SINCE = '24h';

export interface AdminDeps {
  readonly db: Database;
  /** The config in force (it changes on reload). */
  config(): Config;
  /**
   * SHA-256 hex of the admin token; undefined turns the admin API off (every route answers 404).
   * Asked on every request, so a config reload can set, change or remove the token.
   */
  adminTokenHash(): string | undefined;
  readonly usage: { query(filter: UsageFilter): UsageRow[] };
  /** Called after every successful write, so the server applies it at once. */
  onChange(): void;
  now(): number;
}

/** An admin API error: its status and a message naming what was wrong; never a token. */
class AdminHttpError extends Error {
  readonly status: number;
  readonly extra: Readonly<Record<string, unknown>>;
  constructor(status: number, message: string, extra: Readonly<Record<string, unknown>> = {}) {
    super(message);
    this.status = status;
    this.extra = extra;
  }
}

type Params = { name: string; field: string; id: string };
type Query = Record<string, string | string[] | undefined>;
type AdminRequest = FastifyRequest<{ Params: Params; Querystring: Query; Body: unknown }>;

export function registerAdminRoutes(app: FastifyInstance, deps: AdminDeps): void {
  void app.register(
    async (admin) => {
      installJsonParser(admin);
      admin.setErrorHandler((error: FastifyError, request, reply) => sendError(error, request, reply));
      admin.setNotFoundHandler((request, reply) => {
        sendError(new AdminHttpError(404, `no admin route ${request.method} ${request.url.split('?')[0]}; the admin routes are /tenants, /tokens and /usage under ${ADMIN_PREFIX}`), request, reply);
      });
      admin.addHook('onRequest', async (request) => authorize(request, deps.adminTokenHash()));
      registerTenantRoutes(admin, deps);
      registerTokenRoutes(admin, deps);
      registerUsageRoute(admin, deps);
    },
    { prefix: ADMIN_PREFIX },
  );
}

// ---- plumbing ----

function installJsonParser(admin: FastifyInstance): void {
  admin.removeAllContentTypeParsers();
  admin.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: ADMIN_BODY_LIMIT_BYTES }, (_request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    // POST /tenants/x/disable needs no body; clients often send the JSON content type anyway.
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(new AdminHttpError(400, `the request body is not valid JSON: ${(err as Error).message}`), undefined);
    }
  });
}

function sendError(error: Error, request: FastifyRequest, reply: FastifyReply): void {
  if (error instanceof AdminHttpError) {
    if (error.status === 401) void reply.header('www-authenticate', 'Bearer realm="tributary admin"');
    void reply.code(error.status).send({ error: error.message, ...error.extra });
    return;
  }
  // fastify's own client errors (415 media type, 413 body size, 400 ...) carry a status and a message.
  const status = (error as { statusCode?: unknown }).statusCode;
  if (status === 415) {
    const type = request.headers['content-type'] ?? '';
    void reply.code(415).send({ error: `the admin API takes JSON bodies only: send "Content-Type: application/json" (got "${type}")` });
    return;
  }
  if (typeof status === 'number' && status >= 400 && status < 500) {
    void reply.code(status).send({ error: error.message });
    return;
  }
  request.log.error({ err: error, reqId: request.id }, 'BUG: unexpected error in the admin API');
  void reply.code(500).send({ error: `internal error (request id ${request.id})` });
}

async function authorize(request: FastifyRequest, adminTokenHash: string | undefined): Promise<void> {
  if (adminTokenHash === undefined) {
    throw new AdminHttpError(404, 'the admin API is off: set admin.token_file (or admin.token_sha256) in the config and reload tributary');
  }
  let token: string;
  try {
    token = parseAuthorization(request.headers.authorization);
  } catch (err) {
    if (!(err instanceof UnauthenticatedError)) throw err;
    throw new AdminHttpError(401, 'missing admin token: send "Authorization: Bearer <admin token>" (the token of admin.token_file)', {
      reason: 'missing_token',
    });
  }
  // Constant-time comparison of hashes: how long it takes tells nothing about the admin token.
  if (!hashesEqual(hashToken(token), adminTokenHash)) {
    throw new AdminHttpError(401, 'unknown admin token: this is not the admin token of the config (tenant tokens cannot use the admin API)', {
      reason: 'unknown_token',
    });
  }
}

/** Run the after-write hook; the write is committed either way, so a failing hook only logs. */
function changed(deps: AdminDeps, request: FastifyRequest): void {
  try {
    deps.onChange();
  } catch (err) {
    request.log.error({ err, reqId: request.id }, 'admin API: applying a change failed; it is committed and applies at the next refresh');
  }
}

function bodyObject(body: unknown, allowed: readonly string[], example: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new AdminHttpError(400, `the request body must be a JSON object such as ${example}`);
  }
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) {
    throw new AdminHttpError(400, `unknown field(s) ${unknown.map((k) => `"${k}"`).join(', ')} in the request body; the fields are ${allowed.join(', ')}`);
  }
  return body as Record<string, unknown>;
}

function optionalText(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new AdminHttpError(400, `${field}: must be a string`);
  return value.trim() || undefined;
}

function queryParam(query: Query, name: string): string | undefined {
  const value = query[name];
  if (Array.isArray(value)) throw new AdminHttpError(400, `${name}: give this query parameter once`);
  return value === '' ? undefined : value;
}

// ---- tenants ----

function catalogOf(deps: AdminDeps): TenantCatalog {
  return new TenantCatalog(deps.db, deps.config());
}

function mustFind(catalog: TenantCatalog, name: string): KnownTenant {
  const tenant = catalog.find(name);
  if (tenant === undefined) {
    throw new AdminHttpError(
      404,
      `unknown tenant "${name}": it is in neither the config, the tenants table nor any token; create it with POST ${ADMIN_PREFIX}/tenants`,
    );
  }
  return tenant;
}

function detail(deps: AdminDeps, name: string): Record<string, unknown> {
  return tenantDetailJson(mustFind(catalogOf(deps), name), deps.config());
}

function registerTenantRoutes(admin: FastifyInstance, deps: AdminDeps): void {
  admin.get('/tenants', async () => catalogOf(deps).list().map(tenantSummaryJson));

  admin.post('/tenants', async (request: AdminRequest, reply) => {
    const body = bodyObject(request.body, ['name', 'description'], '{"name": "team-a", "description": "..."}');
    const name = body.name;
    if (typeof name !== 'string' || !TENANT_NAME_RE.test(name)) {
      throw new AdminHttpError(400, `name: must be ${TENANT_NAME_RULE} (got ${JSON.stringify(name ?? null)})`);
    }
    const now = deps.now();
    const result = new TenantsRepo(deps.db).create(name, optionalText(body.description, 'description'), now);
    if (result.outcome === 'already_exists') {
      throw new AdminHttpError(409, `tenant "${name}" already exists (created ${new Date(result.record.createdAtMs).toISOString()})`);
    }
    changed(deps, request);
    void reply.code(201);
    return detail(deps, name);
  });

  admin.get('/tenants/:name', async (request: AdminRequest) => detail(deps, request.params.name));

  for (const action of ['disable', 'enable'] as const) {
    admin.post(`/tenants/:name/${action}`, async (request: AdminRequest) => {
      const name = request.params.name;
      mustFind(catalogOf(deps), name);
      setTenantDisabled(deps.db, name, action === 'disable', deps.now());
      changed(deps, request);
      return detail(deps, name);
    });
  }

  admin.put('/tenants/:name/limits', async (request: AdminRequest) => {
    const parsed = parseLimitOverrides(request.body);
    if (!parsed.ok) throw invalidLimits(request.params.name, parsed.problems);
    return updateOverrides(deps, request, (stored) => applyOverrides(stored, parsed.set, parsed.clear));
  });

  admin.delete('/tenants/:name/limits', async (request: AdminRequest) => updateOverrides(deps, request, () => ({})));

  admin.delete('/tenants/:name/limits/:field', async (request: AdminRequest) => {
    const field = request.params.field;
    if (!isLimitField(field)) throw new AdminHttpError(400, `${field}: unknown limit field; the limit fields are ${LIMIT_FIELDS.join(', ')}`);
    return updateOverrides(deps, request, (stored) => applyOverrides(stored, {}, [field as keyof TenantLimits]));
  });
}

function invalidLimits(tenant: string, problems: readonly string[]): AdminHttpError {
  return new AdminHttpError(400, `invalid limits for tenant "${tenant}": ${problems.join('; ')}`, { problems });
}

/**
 * Read-modify-write of a tenant's overrides in one IMMEDIATE transaction (so a concurrent CLI write
 * is never lost), refusing a result whose merged limits could not work.
 */
function updateOverrides(
  deps: AdminDeps,
  request: AdminRequest,
  change: (stored: TenantLimitOverrides) => TenantLimitOverrides,
): Record<string, unknown> {
  const name = request.params.name;
  mustFind(catalogOf(deps), name);
  const result = changeOverrides(deps.db, name, change, (next) => checkOverrides(deps.config(), name, next), deps.now());
  if (!result.ok) throw invalidLimits(name, result.problems);
  changed(deps, request);
  return detail(deps, name);
}

// ---- tokens ----

function registerTokenRoutes(admin: FastifyInstance, deps: AdminDeps): void {
  admin.get('/tokens', async (request: AdminRequest) => {
    const tenant = queryParam(request.query, 'tenant');
    return catalogOf(deps).tokens(tenant).map(tokenJson);
  });

  admin.post('/tokens', async (request: AdminRequest, reply) => {
    const body = bodyObject(request.body, ['tenant', 'clusters', 'description'], '{"tenant": "team-a", "clusters": ["prod-eu-1"]}');
    const tenant = typeof body.tenant === 'string' ? body.tenant.trim() : '';
    if (tenant === '') throw new AdminHttpError(400, 'tenant: must be a non-empty string');
    const clusters = parseClusters(body.clusters);
    const secret = generateToken();
    const record = new TokensRepo(deps.db).create({
      id: generateTokenId(),
      hash: hashToken(secret),
      tenant,
      clusters,
      description: optionalText(body.description, 'description'),
      createdAtMs: deps.now(),
    });
    changed(deps, request);
    // The secret is in this one response only; keep every cache from holding it.
    void reply.code(201).header('cache-control', 'no-store');
    return {
      id: record.id,
      tenant: record.tenant,
      clusters: record.clusters,
      description: record.description ?? null,
      created_at: new Date(record.createdAtMs).toISOString(),
      token: secret,
    };
  });

  admin.delete('/tokens/:id', async (request: AdminRequest) => {
    const id = request.params.id;
    if (id.startsWith('config:')) {
      throw new AdminHttpError(400, `token ${id} lives in the config file: remove it from "tokens:" and reload tributary (SIGHUP)`);
    }
    const result = new TokensRepo(deps.db).revoke(id, deps.now());
    if (result.outcome === 'not_found') throw new AdminHttpError(404, `no token with id "${id}"; GET ${ADMIN_PREFIX}/tokens lists them`);
    changed(deps, request);
    return { ...tokenJson(tokenInfoOf(result.record)), outcome: result.outcome };
  });
}

function parseClusters(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new AdminHttpError(400, 'clusters: must be a non-empty array of cluster label values, e.g. ["prod-eu-1"]');
  }
  const clusters = value.map((c) => (typeof c === 'string' ? c.trim() : ''));
  if (clusters.some((c) => c === '')) throw new AdminHttpError(400, 'clusters: every entry must be a non-empty string');
  return [...new Set(clusters)];
}

// ---- usage ----

function registerUsageRoute(admin: FastifyInstance, deps: AdminDeps): void {
  admin.get('/usage', async (request: AdminRequest) => {
    const unknown = Object.keys(request.query).filter((k) => !['tenant', 'since', 'until'].includes(k));
    if (unknown.length > 0) throw new AdminHttpError(400, `unknown query parameter(s) ${unknown.join(', ')}; the parameters are tenant, since, until`);
    const now = deps.now();
    const sinceMs = parseTime('since', queryParam(request.query, 'since') ?? DEFAULT_USAGE_SINCE, now);
    const untilText = queryParam(request.query, 'until');
    const untilMs = untilText === undefined ? undefined : parseTime('until', untilText, now);
    if (untilMs !== undefined && untilMs <= sinceMs) {
      throw new AdminHttpError(400, `until: must be after since (${new Date(sinceMs).toISOString()}), got ${new Date(untilMs).toISOString()}`);
    }
    return deps.usage.query({ tenant: queryParam(request.query, 'tenant'), sinceMs, untilMs }).map(usageJson);
  });
}

/** A Prometheus duration back from now (`24h`), or an RFC 3339 time. */
function parseTime(name: string, text: string, nowMs: number): number {
  const ms = parseTimeBack(text, nowMs);
  if (ms === undefined) {
    throw new AdminHttpError(400, `${name}: must be a duration back from now such as 24h, or an RFC 3339 time such as 2024-05-01T00:00:00Z (got "${text}")`);
  }
  return ms;
}

function usageJson(row: UsageRow): Record<string, unknown> {
  return {
    tenant: row.tenant,
    cluster: row.cluster,
    hour: new Date(row.hourStartMs).toISOString(),
    accepted_samples: row.acceptedSamples,
    rejected_samples: row.rejectedSamples,
    accepted_series: row.acceptedSeries,
    rejected_series: row.rejectedSeries,
    requests: row.requests,
    rejected_requests: row.rejectedRequests,
    active_series: row.activeSeries ?? null,
  };
}
