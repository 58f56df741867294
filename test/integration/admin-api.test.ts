import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance, type InjectOptions } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registerAdminRoutes } from '../../src/admin/routes.js';
import { Authenticator } from '../../src/auth/authenticator.js';
import { hashToken } from '../../src/auth/token.js';
import { parseConfigText } from '../../src/config/load.js';
import { ForbiddenError } from '../../src/errors.js';
import { closeDatabase, type Database, openDatabase } from '../../src/state/db.js';
import { TenantsRepo } from '../../src/state/tenants-repo.js';
import { TokensRepo } from '../../src/state/tokens-repo.js';
import type { UsageFilter, UsageRow } from '../../src/usage/types.js';

const ADMIN_TOKEN = 'trib_admin_0123456789abcdef';
const NOW = Date.parse('2024-05-01T12:00:00Z');
const HOUR = 3_600_000;

const config = parseConfigText(`
backends:
  - name: central
    url: http://127.0.0.1:9090/api/v1/write
admin:
  token_sha256: ${hashToken(ADMIN_TOKEN)}
limits:
  max_samples_per_request: 2000
tenants:
  team-a:
    limits:
      ingestion_rate: 10000
      ingestion_burst_size: 4000
      max_active_series: 5000
tokens:
  - tenant: team-cfg
    clusters: [cfg-1]
    token_sha256: ${hashToken('config-token-secret')}
`);

const USAGE_ROWS: UsageRow[] = [
  {
    tenant: 'team-a',
    cluster: 'eu-1',
    hourStartMs: NOW - 2 * HOUR,
    acceptedSamples: 100,
    rejectedSamples: 3,
    acceptedSeries: 10,
    rejectedSeries: 1,
    requests: 5,
    rejectedRequests: 1,
    activeSeries: 42,
  },
  {
    tenant: 'team-a',
    cluster: '',
    hourStartMs: NOW - HOUR,
    acceptedSamples: 0,
    rejectedSamples: 7,
    acceptedSeries: 0,
    rejectedSeries: 2,
    requests: 1,
    rejectedRequests: 1,
    activeSeries: undefined,
  },
];

let dir: string;
let db: Database;
let app: FastifyInstance;
let changes: number;
let usageQueries: UsageFilter[];

function build(tokenHash: string | undefined | (() => string | undefined)): FastifyInstance {
  const instance = Fastify();
  // As the remote-write route does at the root: every body taken as raw bytes.
  instance.removeAllContentTypeParsers();
  instance.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  instance.post('/raw', async (request) => ({ isBuffer: Buffer.isBuffer(request.body) }));
  registerAdminRoutes(instance, {
    db,
    config: () => config,
    adminTokenHash: typeof tokenHash === 'function' ? tokenHash : () => tokenHash,
    usage: {
      query(filter) {
        usageQueries.push(filter);
        return USAGE_ROWS;
      },
    },
    onChange: () => {
      changes += 1;
    },
    now: () => NOW,
  });
  return instance;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tributary-admin-'));
  db = openDatabase(join(dir, 'data'));
  changes = 0;
  usageQueries = [];
  app = build(hashToken(ADMIN_TOKEN));
});

afterEach(async () => {
  await app.close();
  closeDatabase(db);
  rmSync(dir, { recursive: true, force: true });
});

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

async function call(method: Method, url: string, body?: unknown, token: string | undefined = ADMIN_TOKEN) {
  const options: InjectOptions = { method, url: `/admin/v1${url}`, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } };
  if (body !== undefined) options.payload = body as NonNullable<InjectOptions['payload']>;
  const res = await app.inject(options);
  return { status: res.statusCode, body: res.body === '' ? undefined : (res.json() as unknown), headers: res.headers, raw: res.body };
}

/** A database token for `tenant`, as `tributary token create` makes one. */
function dbToken(tenant: string, id = `tok_${tenant}`): void {
  new TokensRepo(db).create({ id, hash: hashToken(`secret-of-${id}`), tenant, clusters: ['c1'], createdAtMs: NOW - HOUR });
}

describe('admin API: authentication', () => {
  it.each([
    { name: 'no Authorization header', headers: {}, reason: 'missing_token', error: /missing admin token/ },
    { name: 'an empty Bearer token', headers: { authorization: 'Bearer ' }, reason: 'missing_token', error: /missing admin token/ },
    { name: 'a wrong token', headers: { authorization: 'Bearer not-the-admin-token' }, reason: 'unknown_token', error: /not the admin token/ },
    { name: 'a config tenant token', headers: { authorization: 'Bearer config-token-secret' }, reason: 'unknown_token', error: /tenant tokens cannot/ },
    { name: 'a database tenant token', headers: { authorization: 'Bearer secret-of-tok_team-a' }, reason: 'unknown_token', error: /not the admin token/ },
  ])('answers 401 ($reason) to $name, without echoing it', async ({ headers, reason, error }) => {
    dbToken('team-a');
    for (const [method, url] of [
      ['GET', '/tenants'],
      ['POST', '/tokens'],
      ['DELETE', '/tenants/team-a/limits'],
      ['GET', '/usage'],
    ] as const) {
      const res = await app.inject({ method, url: `/admin/v1${url}`, headers });
      expect(res.statusCode).toBe(401);
      expect(res.json()).toEqual({ error: expect.stringMatching(error), reason });
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(res.body).not.toContain('not-the-admin-token');
      expect(res.body).not.toContain('secret');
    }
    expect(changes).toBe(0);
    expect(new TenantsRepo(db).list()).toEqual([]);
  });

  it('accepts the admin token', async () => {
    expect((await call('GET', '/tenants')).status).toBe(200);
  });

  it.each([
    { name: 'undefined', hash: undefined },
    { name: 'a function returning undefined (removed by a reload)', hash: () => undefined },
  ])('answers 404 on every route when the admin token is $name', async ({ hash }) => {
    await app.close();
    app = build(hash);
    for (const [method, url] of [
      ['GET', '/tenants'],
      ['POST', '/tenants/team-a/disable'],
      ['GET', '/usage'],
      ['GET', '/no-such-route'],
    ] as const) {
      const res = await call(method, url);
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ error: expect.stringMatching(/admin API is off: set admin\.token_file/) });
    }
  });

  it('follows an admin token given as a function (a reload changes it)', async () => {
    await app.close();
    let current: string | undefined = hashToken('old-admin');
    app = build(() => current);
    expect((await call('GET', '/tenants', undefined, 'old-admin')).status).toBe(200);
    current = hashToken(ADMIN_TOKEN);
    expect((await call('GET', '/tenants', undefined, 'old-admin')).status).toBe(401);
    expect((await call('GET', '/tenants')).status).toBe(200);
  });

  it('answers unknown admin paths with a JSON 404', async () => {
    const res = await call('GET', '/tenantz');
    expect(res).toMatchObject({ status: 404, body: { error: expect.stringMatching(/no admin route GET \/admin\/v1\/tenantz/) } });
  });

  it('leaves the root content type parsers (the remote-write raw bodies) alone', async () => {
    const res = await app.inject({ method: 'POST', url: '/raw', headers: { 'content-type': 'application/json' }, payload: '{"a":1}' });
    expect(res.json()).toEqual({ isBuffer: true });
  });
});

describe('admin API: tenants', () => {
  it('creates a tenant (201), refuses it again (409), and shows it', async () => {
    const created = await call('POST', '/tenants', { name: 'team-new', description: 'a new team' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'team-new',
      sources: ['admin'],
      disabled: false,
      disabled_at: null,
      description: 'a new team',
      created_at: new Date(NOW).toISOString(),
      overrides: {},
      tokens: [],
      problems: [],
    });
    expect(changes).toBe(1);

    const again = await call('POST', '/tenants', { name: 'team-new' });
    expect(again).toMatchObject({ status: 409, body: { error: expect.stringMatching(/tenant "team-new" already exists/) } });
    expect(changes).toBe(1);

    const shown = await call('GET', '/tenants/team-new');
    expect(shown.status).toBe(200);
    expect(shown.body).toEqual(created.body);
  });

  it.each([
    { name: 'an empty name', body: { name: '' }, error: /^name: must be 1 to 128 of the characters/ },
    { name: 'a name with a slash', body: { name: 'a/b' }, error: /^name: .*\(got "a\/b"\)/ },
    { name: 'a name too long', body: { name: 'x'.repeat(129) }, error: /^name: must be 1 to 128/ },
    { name: 'no name', body: { description: 'x' }, error: /^name: .*\(got null\)/ },
    { name: 'a numeric name', body: { name: 7 }, error: /^name: .*\(got 7\)/ },
    { name: 'an unknown field', body: { name: 'ok', colour: 'red' }, error: /unknown field\(s\) "colour"/ },
    { name: 'a description that is not a string', body: { name: 'ok', description: 5 }, error: /^description: must be a string/ },
    { name: 'an array body', body: [1], error: /must be a JSON object/ },
  ])('refuses $name with 400', async ({ body, error }) => {
    const res = await call('POST', '/tenants', body);
    expect(res).toMatchObject({ status: 400, body: { error: expect.stringMatching(error) } });
    expect(new TenantsRepo(db).list()).toEqual([]);
    expect(changes).toBe(0);
  });

  it('refuses a body that is not JSON (400) or of another content type (415)', async () => {
    const broken = await app.inject({
      method: 'POST',
      url: '/admin/v1/tenants',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      payload: '{"name": ',
    });
    expect(broken.statusCode).toBe(400);
    expect(broken.json()).toEqual({ error: expect.stringMatching(/^the request body is not valid JSON/) });
    const text = await app.inject({
      method: 'POST',
      url: '/admin/v1/tenants',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'text/plain' },
      payload: 'name=x',
    });
    expect(text.statusCode).toBe(415);
    expect(text.json()).toEqual({ error: 'the admin API takes JSON bodies only: send "Content-Type: application/json" (got "text/plain")' });
  });

  it('lists the tenants of the config, the tenants table and the tokens, with their sources', async () => {
    dbToken('team-a', 'tok_a1');
    dbToken('team-a', 'tok_a2');
    new TokensRepo(db).revoke('tok_a2', NOW);
    dbToken('team-tok');
    await call('POST', '/tenants', { name: 'team-admin' });
    await call('POST', '/tenants/team-a/disable');

    const res = await call('GET', '/tenants');
    expect(res.status).toBe(200);
    expect(res.body).toEqual([
      { name: 'team-a', sources: ['config', 'admin', 'token'], disabled: true, disabled_at: new Date(NOW).toISOString(), description: null, overrides: {}, tokens: 1 },
      { name: 'team-admin', sources: ['admin'], disabled: false, disabled_at: null, description: null, overrides: {}, tokens: 0 },
      { name: 'team-cfg', sources: ['config'], disabled: false, disabled_at: null, description: null, overrides: {}, tokens: 1 },
      { name: 'team-tok', sources: ['token'], disabled: false, disabled_at: null, description: null, overrides: {}, tokens: 1 },
    ]);
  });

  it('shows a tenant with its effective limits, each with its source, and its tokens', async () => {
    dbToken('team-a', 'tok_a1');
    const res = await call('GET', '/tenants/team-a');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      name: 'team-a',
      sources: ['config', 'token'],
      disabled: false,
      created_at: null,
      limits: {
        ingestion_rate: { value: 10000, source: 'config' },
        ingestion_burst_size: { value: 4000, source: 'config' },
        max_samples_per_request: { value: 2000, source: 'default' },
        active_series_window: { value: 1_200_000, source: 'default' },
        rate_limit_status: { value: 503, source: 'default' },
      },
      tokens: [
        { id: 'tok_a1', source: 'database', tenant: 'team-a', clusters: ['c1'], description: null, created_at: new Date(NOW - HOUR).toISOString(), last_used_at: null, revoked_at: null },
      ],
    });
    expect(Object.keys((res.body as { limits: object }).limits)).toHaveLength(19);
    expect(res.raw).not.toContain(hashToken('secret-of-tok_a1'));
  });

  it('answers 404 for a tenant known nowhere, on every tenant route', async () => {
    for (const [method, url, body] of [
      ['GET', '/tenants/ghost', undefined],
      ['POST', '/tenants/ghost/disable', undefined],
      ['POST', '/tenants/ghost/enable', undefined],
      ['PUT', '/tenants/ghost/limits', { max_active_series: 1 }],
      ['DELETE', '/tenants/ghost/limits', undefined],
      ['DELETE', '/tenants/ghost/limits/max_active_series', undefined],
    ] as const) {
      const res = await call(method, url, body);
      expect(res).toMatchObject({ status: 404, body: { error: expect.stringMatching(/unknown tenant "ghost"/) } });
    }
    expect(new TenantsRepo(db).list()).toEqual([]);
    expect(changes).toBe(0);
  });

  it('disables and enables a tenant of the config (creating its row), idempotently', async () => {
    const disabled = await call('POST', '/tenants/team-a/disable');
    expect(disabled).toMatchObject({ status: 200, body: { name: 'team-a', sources: ['config', 'admin'], disabled: true, disabled_at: new Date(NOW).toISOString() } });
    expect(new TenantsRepo(db).get('team-a')?.disabledAtMs).toBe(NOW);
    expect(changes).toBe(1);

    const again = await call('POST', '/tenants/team-a/disable');
    expect(again).toMatchObject({ status: 200, body: { disabled: true, disabled_at: new Date(NOW).toISOString() } });

    const enabled = await call('POST', '/tenants/team-a/enable', {});
    expect(enabled).toMatchObject({ status: 200, body: { disabled: false, disabled_at: null } });
    expect(new TenantsRepo(db).get('team-a')?.disabledAtMs).toBeUndefined();
    expect((await call('POST', '/tenants/team-a/enable')).status).toBe(200);
    expect(changes).toBe(4);
  });

  it('disables a tenant known only from a database token', async () => {
    dbToken('team-tok');
    const res = await call('POST', '/tenants/team-tok/disable');
    expect(res).toMatchObject({ status: 200, body: { sources: ['admin', 'token'], disabled: true } });
  });
});

describe('admin API: limits', () => {
  it('sets overrides (durations and sizes as in the YAML), which win over the config', async () => {
    const res = await call('PUT', '/tenants/team-a/limits', { max_active_series: 7000, active_series_window: '30m', max_body_bytes: '1MiB' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      sources: ['config', 'admin'],
      overrides: { max_active_series: 7000, active_series_window: 1_800_000, max_body_bytes: 1_048_576 },
      limits: {
        max_active_series: { value: 7000, source: 'admin' },
        active_series_window: { value: 1_800_000, source: 'admin' },
        max_body_bytes: { value: 1_048_576, source: 'admin' },
        ingestion_rate: { value: 10000, source: 'config' },
      },
      problems: [],
    });
    expect(new TenantsRepo(db).get('team-a')?.overrides).toEqual({ max_active_series: 7000, active_series_window: 1_800_000, max_body_bytes: 1_048_576 });
    expect(changes).toBe(1);

    // Merged into what is stored; null clears one field.
    const merged = await call('PUT', '/tenants/team-a/limits', { max_active_series: null, request_rate: 10, request_burst_size: 20 });
    expect(merged.body).toMatchObject({
      overrides: { request_rate: 10, request_burst_size: 20, active_series_window: 1_800_000, max_body_bytes: 1_048_576 },
      limits: { max_active_series: { value: 5000, source: 'config' }, request_rate: { value: 10, source: 'admin' } },
    });
    expect(changes).toBe(2);
  });

  it.each([
    {
      name: 'limits whose merge cannot work',
      body: { ingestion_burst_size: 100 },
      problems: ['ingestion_burst_size: must be at least max_samples_per_request (2000): a request of that size could never pass (got 100)'],
    },
    {
      name: 'an unknown field and a bad duration',
      body: { max_series: 1, future_grace: 'soon' },
      problems: [expect.stringMatching(/^max_series: unknown limit field/), 'future_grace: must be a duration such as 30s, 5m or 1h30m (got "soon")'],
    },
    { name: 'a body that is not an object', body: [1], problems: [expect.stringMatching(/^expected an object of limit fields/)] },
  ])('refuses $name with 400 listing every problem, storing nothing', async ({ body, problems }) => {
    const res = await call('PUT', '/tenants/team-a/limits', body);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: expect.stringMatching(/^invalid limits for tenant "team-a": /), problems });
    expect(new TenantsRepo(db).get('team-a')).toBeUndefined();
    expect(changes).toBe(0);
  });

  it('clears one field, refusing a clear that would leave limits that cannot work', async () => {
    await call('PUT', '/tenants/team-cfg/limits', { ingestion_rate: 100, ingestion_burst_size: 3000, max_samples_per_request: 3000, max_active_series: 9 });
    const refused = await call('DELETE', '/tenants/team-cfg/limits/ingestion_burst_size');
    expect(refused).toMatchObject({ status: 400, body: { problems: [expect.stringMatching(/^ingestion_burst_size: must be at least max_samples_per_request \(3000\)/)] } });

    const cleared = await call('DELETE', '/tenants/team-cfg/limits/max_active_series');
    expect(cleared).toMatchObject({ status: 200, body: { limits: { max_active_series: { value: 0, source: 'default' } } } });
    expect(new TenantsRepo(db).get('team-cfg')?.overrides).toEqual({ ingestion_rate: 100, ingestion_burst_size: 3000, max_samples_per_request: 3000 });

    const unknown = await call('DELETE', '/tenants/team-cfg/limits/max_series');
    expect(unknown).toMatchObject({ status: 400, body: { error: expect.stringMatching(/^max_series: unknown limit field/) } });
    expect(changes).toBe(2);
  });

  it('clears every override', async () => {
    await call('PUT', '/tenants/team-a/limits', { max_active_series: 1, future_grace: '1m' });
    const res = await call('DELETE', '/tenants/team-a/limits');
    expect(res).toMatchObject({ status: 200, body: { overrides: {}, limits: { max_active_series: { value: 5000, source: 'config' }, future_grace: { value: 600_000, source: 'default' } } } });
    expect(new TenantsRepo(db).get('team-a')?.overrides).toEqual({});
    expect(changes).toBe(2);
  });
});

describe('admin API: tokens', () => {
  it('creates a token whose secret authenticates, lists it without secrets, and revokes it', async () => {
    const authenticator = new Authenticator({ db, configTokens: [], now: () => NOW });
    const created = await call('POST', '/tokens', { tenant: 'team-a', clusters: ['eu-1', 'eu-2', 'eu-1'], description: 'frankfurt' });
    expect(created.status).toBe(201);
    expect(created.headers['cache-control']).toBe('no-store');
    const body = created.body as { id: string; token: string };
    expect(body).toEqual({
      id: expect.stringMatching(/^tok_[0-9a-f]{12}$/),
      tenant: 'team-a',
      clusters: ['eu-1', 'eu-2'],
      description: 'frankfurt',
      created_at: new Date(NOW).toISOString(),
      token: expect.stringMatching(/^trib_[A-Za-z0-9_-]{43}$/),
    });
    expect(authenticator.authenticate(`Bearer ${body.token}`)).toEqual({ tenant: 'team-a', tokenId: body.id, allowedClusters: ['eu-1', 'eu-2'] });
    expect(changes).toBe(1);

    const listed = await call('GET', '/tokens?tenant=team-a');
    expect(listed.body).toEqual([
      { id: body.id, source: 'database', tenant: 'team-a', clusters: ['eu-1', 'eu-2'], description: 'frankfurt', created_at: new Date(NOW).toISOString(), last_used_at: null, revoked_at: null },
    ]);
    expect(listed.raw).not.toContain(body.token);
    expect(listed.raw).not.toContain(hashToken(body.token));

    const all = await call('GET', '/tokens');
    expect((all.body as { id: string }[]).map((t) => t.id)).toEqual(['config:0', body.id]);

    const revoked = await call('DELETE', `/tokens/${body.id}`);
    expect(revoked).toMatchObject({ status: 200, body: { id: body.id, tenant: 'team-a', outcome: 'revoked', revoked_at: new Date(NOW).toISOString() } });
    authenticator.clearCache();
    let refused: unknown;
    try {
      authenticator.authenticate(`Bearer ${body.token}`);
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(ForbiddenError);
    expect(refused).toMatchObject({ status: 403, reason: 'token_revoked' });

    const again = await call('DELETE', `/tokens/${body.id}`);
    expect(again).toMatchObject({ status: 200, body: { outcome: 'already_revoked' } });
    expect(changes).toBe(3);
  });

  it.each([
    { name: 'an unknown id', id: 'tok_000000000000', status: 404, error: /no token with id "tok_000000000000"/ },
    { name: 'a config token', id: 'config:0', status: 400, error: /token config:0 lives in the config file/ },
  ])('refuses to revoke $name ($status)', async ({ id, status, error }) => {
    const res = await call('DELETE', `/tokens/${id}`);
    expect(res).toMatchObject({ status, body: { error: expect.stringMatching(error) } });
    expect(changes).toBe(0);
  });

  it.each([
    { name: 'no tenant', body: { clusters: ['c'] }, error: /^tenant: must be a non-empty string/ },
    { name: 'a blank tenant', body: { tenant: '  ', clusters: ['c'] }, error: /^tenant: must be a non-empty string/ },
    { name: 'no clusters', body: { tenant: 't' }, error: /^clusters: must be a non-empty array/ },
    { name: 'an empty cluster list', body: { tenant: 't', clusters: [] }, error: /^clusters: must be a non-empty array/ },
    { name: 'clusters as a string', body: { tenant: 't', clusters: 'c' }, error: /^clusters: must be a non-empty array/ },
    { name: 'an empty cluster', body: { tenant: 't', clusters: ['c', ''] }, error: /^clusters: every entry must be a non-empty string/ },
    { name: 'an unknown field', body: { tenant: 't', clusters: ['c'], secret: 'x' }, error: /unknown field\(s\) "secret"/ },
    { name: 'no body', body: undefined, error: /must be a JSON object/ },
  ])('refuses a token request with $name (400)', async ({ body, error }) => {
    const res = await call('POST', '/tokens', body);
    expect(res).toMatchObject({ status: 400, body: { error: expect.stringMatching(error) } });
    expect(new TokensRepo(db).list()).toEqual([]);
  });
});

describe('admin API: usage', () => {
  it('returns the rows as snake_case JSON, for the last 24h by default', async () => {
    const res = await call('GET', '/usage');
    expect(res.status).toBe(200);
    expect(res.body).toEqual([
      {
        tenant: 'team-a',
        cluster: 'eu-1',
        hour: '2024-05-01T10:00:00.000Z',
        accepted_samples: 100,
        rejected_samples: 3,
        accepted_series: 10,
        rejected_series: 1,
        requests: 5,
        rejected_requests: 1,
        active_series: 42,
      },
      {
        tenant: 'team-a',
        cluster: '',
        hour: '2024-05-01T11:00:00.000Z',
        accepted_samples: 0,
        rejected_samples: 7,
        accepted_series: 0,
        rejected_series: 2,
        requests: 1,
        rejected_requests: 1,
        active_series: null,
      },
    ]);
    expect(usageQueries).toEqual([{ tenant: undefined, sinceMs: NOW - 24 * HOUR, untilMs: undefined }]);
  });

  it.each([
    { query: '?tenant=team-a&since=2h', filter: { tenant: 'team-a', sinceMs: NOW - 2 * HOUR, untilMs: undefined } },
    { query: '?since=1d&until=30m', filter: { tenant: undefined, sinceMs: NOW - 24 * HOUR, untilMs: NOW - 30 * 60_000 } },
    {
      query: '?since=2024-04-30T00:00:00Z&until=2024-05-01T00:00:00%2B02:00',
      filter: { tenant: undefined, sinceMs: Date.parse('2024-04-30T00:00:00Z'), untilMs: Date.parse('2024-04-30T22:00:00Z') },
    },
    { query: '?tenant=&since=1h30m', filter: { tenant: undefined, sinceMs: NOW - 1.5 * HOUR, untilMs: undefined } },
  ])('passes $query to the usage query as $filter', async ({ query, filter }) => {
    const res = await call('GET', `/usage${query}`);
    expect(res.status).toBe(200);
    expect(usageQueries).toEqual([filter]);
  });

  it.each([
    { query: '?since=yesterday', error: /^since: must be a duration back from now such as 24h, or an RFC 3339 time .*\(got "yesterday"\)/ },
    { query: '?until=2024-13-45', error: /^until: must be a duration/ },
    { query: '?since=1h&until=2h', error: /^until: must be after since/ },
    { query: '?tenant=a&tenant=b', error: /^tenant: give this query parameter once/ },
    { query: '?from=1h', error: /unknown query parameter\(s\) from/ },
  ])('refuses $query with 400 naming the parameter', async ({ query, error }) => {
    const res = await call('GET', `/usage${query}`);
    expect(res).toMatchObject({ status: 400, body: { error: expect.stringMatching(error) } });
    expect(usageQueries).toEqual([]);
  });
});
