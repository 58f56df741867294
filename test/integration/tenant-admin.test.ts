/**
 * Tenant administration on a running tributary, the way an operator does it: through the admin API
 * and through the CLI in another connection to the state database. Each change must be in force
 * within a second, without a restart; usage totals must equal what was pushed.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/forward-helpers.js';
import { runTenantCli, runUsageCli } from '../support/run-cli.js';
import { type Env, TOKEN_A, TOKEN_MULTI, body, metricValue, push, series, sha, startEnv } from '../support/write-env.js';

const ADMIN_TOKEN = 'trib_test-admin-token';

/** A request of `n` series of one sample each, of `cluster`, at time `t`. */
function request(n: number, cluster: string, tag: string, t = Date.now()): Buffer {
  return body(Array.from({ length: n }, (_, i) => series({ __name__: `admin_${tag}`, cluster, i: String(i) }, [[i, t]])));
}

/** Push until the answer has `status`; returns how long that took (ms). */
async function untilStatus(env: Env, status: number, payload: () => Buffer, token: string = TOKEN_A): Promise<{ ms: number; text: string }> {
  const start = Date.now();
  let last = { status: 0, text: '' };
  await eventually(async () => {
    last = await push(env.url, payload(), token);
    return last.status === status;
  }, `status ${status}`);
  return { ms: Date.now() - start, text: last.text };
}

describe('tenant administration on a running server', () => {
  let env: Env;
  let config: string;
  const admin = async (method: string, path: string, json?: unknown) => {
    const res = await fetch(`${env.url}/admin/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
      body: json === undefined ? null : JSON.stringify(json),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    env = await startEnv('', `admin: {token_sha256: ${sha(ADMIN_TOKEN)}}\nusage: {flush_interval: 1s}\n`);
    config = join(env.dir, 'tributary.yml');
  });
  afterAll(async () => {
    await env.close();
  });

  it('refuses a tenant token on the admin API, and the admin token on remote write', async () => {
    const res = await fetch(`${env.url}/admin/v1/tenants`, { headers: { authorization: `Bearer ${TOKEN_A}` } });
    expect(res.status).toBe(401);
    expect((await push(env.url, request(1, 'edge-a', 'x'), ADMIN_TOKEN)).status).toBe(401);
  });

  it('refuses a tenant disabled through the admin API at once, and takes it back once enabled', async () => {
    expect((await push(env.url, request(2, 'edge-a', 'before'))).status).toBe(204);
    expect((await admin('POST', '/tenants/team-a/disable')).status).toBe(200);
    const refused = await push(env.url, request(2, 'edge-a', 'disabled'));
    expect(refused.status).toBe(403);
    expect(refused.text).toContain('tenant "team-a" was disabled by an operator');
    expect(refused.text).toContain('(tributary: tenant_disabled)');
    // Another tenant is not touched.
    expect((await push(env.url, request(2, 'm-1', 'other'), TOKEN_MULTI)).status).toBe(204);

    expect((await admin('POST', '/tenants/team-a/enable')).status).toBe(200);
    expect((await push(env.url, request(2, 'edge-a', 'enabled'))).status).toBe(204);
    const text = await env.metricsText();
    expect(metricValue(text, 'tributary_ingest_rejected_requests_total', { tenant: 'team-a', cluster: 'edge-a', reason: 'tenant_disabled' })).toBe(1);
  });

  it('refuses a tenant disabled by the CLI (another connection) within a second', async () => {
    const cli = await runTenantCli(['tenant', 'disable', 'team-a', '--config', config]);
    expect(cli.code).toBe(0);
    const { ms, text } = await untilStatus(env, 403, () => request(1, 'edge-a', 'cli'));
    expect(ms).toBeLessThan(1000);
    expect(text).toContain('(tributary: tenant_disabled)');

    expect((await runTenantCli(['tenant', 'enable', 'team-a', '--config', config])).code).toBe(0);
    expect((await untilStatus(env, 204, () => request(1, 'edge-a', 'cli-enabled'))).ms).toBeLessThan(1000);
  });

  it('applies a limit override at once and shows where each limit comes from; clearing it restores the config’s', async () => {
    const set = await admin('PUT', '/tenants/team-a/limits', { max_series_per_request: 3 });
    expect(set.status).toBe(200);
    const over = await push(env.url, request(4, 'edge-a', 'capped'));
    expect(over.status).toBe(400);
    expect(over.text).toContain("tenant team-a's max_series_per_request (3)");
    expect((await push(env.url, request(3, 'edge-a', 'under'))).status).toBe(204);

    const shown = await runTenantCli(['tenant', 'show', 'team-a', '--config', config]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/max_series_per_request\s+3\s+admin/);
    expect(shown.stdout).toMatch(/future_grace\s+10m\s+default/);

    // A set whose merge could never pass is refused, naming the field; the old override stays.
    const bad = await admin('PUT', '/tenants/team-a/limits', { ingestion_rate: 100 });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.json)).toContain('max_samples_per_request');

    expect((await admin('DELETE', '/tenants/team-a/limits')).status).toBe(200);
    expect((await push(env.url, request(4, 'edge-a', 'uncapped'))).status).toBe(204);
  });

  it('refuses a config reload that would make a stored override unworkable, keeping the config in force', async () => {
    expect((await admin('PUT', '/tenants/team-a/limits', { ingestion_burst_size: 5000 })).status).toBe(200);
    const original = readFileSync(config, 'utf8');
    // With these defaults, team-a's burst of 5000 could never take a request of 10000 samples.
    writeFileSync(config, `limits: {ingestion_rate: 100, ingestion_burst_size: 20000, max_samples_per_request: 10000}\n${original}`);
    try {
      expect(env.server.reload()).toBe(false);
      expect((await push(env.url, request(3, 'edge-a', 'after-refused-reload'))).status).toBe(204);
      // The same file loads once the override is cleared: it was the override that was in the way.
      expect((await admin('DELETE', '/tenants/team-a/limits/ingestion_burst_size')).status).toBe(200);
      expect(env.server.reload()).toBe(true);
    } finally {
      writeFileSync(config, original);
    }
    expect(env.server.reload()).toBe(true);
  });

  it('creates and revokes tokens over HTTP; a revoked token is refused within a second', async () => {
    const created = await admin('POST', '/tokens', { tenant: 'team-n', clusters: ['edge-n'], description: 'test' });
    expect(created.status).toBe(201);
    const secret = created.json.token as string;
    expect(secret).toMatch(/^trib_/);
    expect((await push(env.url, request(1, 'edge-n', 'new'), secret)).status).toBe(204);

    expect((await admin('DELETE', `/tokens/${created.json.id as string}`)).status).toBe(200);
    const { ms, text } = await untilStatus(env, 403, () => request(1, 'edge-n', 'revoked'), secret);
    expect(ms).toBeLessThan(1000);
    expect(text).toContain('(tributary: token_revoked)');
  });

  it('counts usage per tenant, cluster and hour, equal to what was pushed', async () => {
    // A tenant of its own, so the totals are only this test's pushes.
    const created = await admin('POST', '/tokens', { tenant: 'team-u', clusters: ['u-1', 'u-2'] });
    const token = created.json.token as string;
    const t = Date.now();
    const pushes = [
      // 5 + 3 samples accepted on u-1 and u-2.
      body([...Array.from({ length: 5 }, (_, i) => series({ __name__: 'u', cluster: 'u-1', i: String(i) }, [[1, t]])), ...Array.from({ length: 3 }, (_, i) => series({ __name__: 'u', cluster: 'u-2', i: String(i) }, [[1, t]]))]),
      // 2 accepted on u-1; 1 series of 2 samples refused: a cluster the token may not write.
      body([series({ __name__: 'v', cluster: 'u-1' }, [[1, t], [2, t + 1]]), series({ __name__: 'w', cluster: 'other' }, [[1, t], [2, t + 1]])]),
      // Not snappy at all: refused whole.
      Buffer.from('not snappy'),
    ];
    const statuses = [];
    for (const p of pushes) statuses.push((await push(env.url, p, token)).status);
    expect(statuses).toEqual([204, 400, 400]);

    const res = await fetch(`${env.url}/admin/v1/usage?tenant=team-u&since=1h`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).toBe(200);
    const rows = (await res.json()) as Array<Record<string, unknown>>;
    const byCluster = Object.fromEntries(rows.map((r) => [r.cluster, r]));
    // The requests are counted under '' (a token of two clusters); the data under its cluster.
    expect(byCluster['u-1']).toMatchObject({ accepted_samples: 7, accepted_series: 6, rejected_samples: 0, requests: 0 });
    expect(byCluster['u-2']).toMatchObject({ accepted_samples: 3, accepted_series: 3, rejected_samples: 0 });
    expect(byCluster['']).toMatchObject({ rejected_samples: 2, rejected_series: 1, requests: 3, rejected_requests: 1 });

    // The server writes it to the state database; the CLI reads the same totals from there.
    await eventually(async () => {
      const cli = await runUsageCli(['usage', '--config', config, '--tenant', 'team-u', '--group', 'total', '--format', 'json']);
      const lines = JSON.parse(cli.stdout || '[]') as Array<Record<string, unknown>>;
      const sum = (key: string) => lines.reduce((n, l) => n + Number(l[key]), 0);
      return sum('accepted_samples') === 10 && sum('rejected_samples') === 2 && sum('requests') === 3;
    }, 'usage totals in the state database', 5000, 200);
  });
});
