/**
 * Relabeling on the write path, in-process: the chain global -> tenant -> backend, drops counted per
 * tenant and stage, the cluster label guarded, the tenant label added after the rules, the fast path
 * kept when rules change nothing, and hot reload of the rules.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually as waitFor } from '../support/e2e.js';
import { eventually } from '../support/forward-helpers.js';
import { type Env, TOKEN_OVERRIDE, body, labelsOf, metricValue, push, series, startEnv } from '../support/write-env.js';

const now = () => Date.now();

const GLOBAL_RULES = `
relabel_configs:
  - {source_labels: [__name__], regex: "go_.*", action: drop}
  - {source_labels: [instance], regex: "(.*):\\\\d+", target_label: host}
`;
/** Under `tenants:`: team-o's own rules, then team-a. */
const TENANT_RULES = `    relabel_configs:
      - {source_labels: [exported_cluster], target_label: claimed}
  team-a:
    relabel_configs:
      - {source_labels: [job], regex: "secret", action: drop}
      - {source_labels: [job], target_label: job_upper, action: uppercase}
`;

/** The series that reached the sink, by __name__. */
function receivedByName(env: Env): Map<string, Record<string, string>[]> {
  const out = new Map<string, Record<string, string>[]>();
  for (const ts of env.received()) {
    const labels = labelsOf(ts);
    const name = labels.__name__ ?? '';
    out.set(name, [...(out.get(name) ?? []), labels]);
  }
  return out;
}

describe('relabeling on the write path', () => {
  let env: Env;
  beforeAll(async () => {
    env = await startEnv(
      `    tenant_label: tenant
    write_relabel_configs:
      - {source_labels: [__name__], regex: "debug_.*", action: drop}
      - {action: labeldrop, regex: "__tmp_.*|pod_uid"}
`,
      GLOBAL_RULES,
      TENANT_RULES,
    );
  });
  afterAll(async () => {
    await env.close();
  });
  afterEach(() => {
    env.sink.respond = () => ({ status: 204 });
  });

  it('applies global, then tenant, then backend rules, and adds the tenant label after them', async () => {
    const t = now();
    const res = await push(
      env.url,
      body([
        series({ __name__: 'http_requests_total', cluster: 'edge-a', job: 'api', instance: '10.0.0.7:8080', pod_uid: 'u1', __tmp_x: 'y', tenant: 'forged' }, [[1, t]]),
        series({ __name__: 'go_goroutines', cluster: 'edge-a', job: 'api' }, [[2, t]]),
        series({ __name__: 'vault_up', cluster: 'edge-a', job: 'secret' }, [[3, t]]),
        series({ __name__: 'debug_events', cluster: 'edge-a', job: 'api' }, [[4, t]]),
      ]),
    );
    expect(res.status).toBe(204);
    const got = await waitFor('the relabeled series at the sink', async () => {
      const byName = receivedByName(env);
      return byName.has('http_requests_total') ? byName : undefined;
    });
    expect(got.get('http_requests_total')).toEqual([
      { __name__: 'http_requests_total', cluster: 'edge-a', host: '10.0.0.7', instance: '10.0.0.7:8080', job: 'api', job_upper: 'API', tenant: 'team-a' },
    ]);
    for (const dropped of ['go_goroutines', 'vault_up', 'debug_events']) expect(got.has(dropped)).toBe(false);

    const text = await env.metricsText();
    expect(metricValue(text, 'tributary_relabel_dropped_series_total', { tenant: 'team-a', stage: 'global' })).toBe(1);
    expect(metricValue(text, 'tributary_relabel_dropped_series_total', { tenant: 'team-a', stage: 'tenant' })).toBe(1);
    expect(metricValue(text, 'tributary_relabel_dropped_series_total', { tenant: 'team-a', stage: 'backend', backend: 'sink' })).toBe(1);
    expect(metricValue(text, 'tributary_relabel_dropped_samples_total', { tenant: 'team-a', stage: 'backend', backend: 'sink' })).toBe(1);
    // Dropped by a rule is not a rejection, and what only the backend stage dropped was still accepted.
    expect(metricValue(text, 'tributary_ingest_rejected_samples_total', { tenant: 'team-a' })).toBe(0);
    expect(metricValue(text, 'tributary_ingest_accepted_samples_total', { tenant: 'team-a' })).toBe(2);
  });

  it('relabels the series as enforced: an overridden cluster is visible to the rules as exported_cluster', async () => {
    const res = await push(env.url, body([series({ __name__: 'claimed_metric', cluster: 'elsewhere' }, [[1, now()]])]), TOKEN_OVERRIDE);
    expect(res.status).toBe(204);
    const got = await waitFor('the overridden series', async () => receivedByName(env).get('claimed_metric'));
    expect(got).toEqual([{ __name__: 'claimed_metric', claimed: 'elsewhere', cluster: 'edge-o', exported_cluster: 'elsewhere', tenant: 'team-o' }]);
  });

  it('serves repeated series from the cache, with the same result', async () => {
    const before = metricValue(await env.metricsText(), 'tributary_relabel_cache_lookups_total', { result: 'hit' });
    for (let i = 0; i < 3; i++) {
      const res = await push(env.url, body([series({ __name__: 'cached_metric', cluster: 'edge-a', job: 'x', instance: 'h:1' }, [[i, now() + i]])]));
      expect(res.status).toBe(204);
    }
    const got = await waitFor('three requests of the cached series', async () => {
      const list = receivedByName(env).get('cached_metric');
      return list !== undefined && list.length === 3 ? list : undefined;
    });
    for (const labels of got) expect(labels).toEqual({ __name__: 'cached_metric', cluster: 'edge-a', host: 'h', instance: 'h:1', job: 'x', job_upper: 'X', tenant: 'team-a' });
    expect(metricValue(await env.metricsText(), 'tributary_relabel_cache_lookups_total', { result: 'hit' })).toBeGreaterThanOrEqual(before + 2);
  });
});

describe('relabel rules that change nothing', () => {
  let env: Env;
  beforeAll(async () => {
    env = await startEnv('', `relabel_configs:\n  - {source_labels: [__name__], regex: "never_.*", action: drop}\n`);
  });
  afterAll(async () => {
    await env.close();
  });

  it('keep the fast path: the body is forwarded exactly as it arrived', async () => {
    const payload = body([series({ __name__: 'fast_path', cluster: 'edge-a', job: 'node' }, [[1, now()]])]);
    expect((await push(env.url, payload)).status).toBe(204);
    await eventually(() => env.sink.accepted().some((r) => r.body.equals(payload)), 'the original body at the sink');
  });
});

describe('the cluster label guard', () => {
  let env: Env;
  beforeAll(async () => {
    // A templated target is only known at run time: here it becomes "cluster".
    env = await startEnv('', `relabel_configs:\n  - {source_labels: [target], target_label: "$1", replacement: "stolen"}\n`);
  });
  afterAll(async () => {
    await env.close();
  });

  it('puts the enforced cluster back and counts it', async () => {
    expect((await push(env.url, body([series({ __name__: 'sneaky', cluster: 'edge-a', target: 'cluster' }, [[1, now()]])]))).status).toBe(204);
    const got = await waitFor('the guarded series', async () => receivedByName(env).get('sneaky'));
    expect(got).toEqual([{ __name__: 'sneaky', cluster: 'edge-a', target: 'cluster' }]);
    expect(metricValue(await env.metricsText(), 'tributary_relabel_cluster_label_restored_total', { tenant: 'team-a' })).toBe(1);
  });
});

describe('hot reload of relabel rules', () => {
  let env: Env;
  let configPath: string;
  beforeAll(async () => {
    env = await startEnv('', `relabel_configs:\n  - {source_labels: [__name__], regex: "old_.*", action: drop}\n`);
    configPath = join(env.dir, 'tributary.yml');
  });
  afterAll(async () => {
    await env.close();
  });

  const names = () => [...receivedByName(env).keys()];

  it('applies new rules, refuses a bad rule and keeps the old ones, and fails no request meanwhile', async () => {
    const original = readFileSync(configPath, 'utf8');
    const pushPair = async (tag: string) =>
      (
        await push(
          env.url,
          body([
            series({ __name__: `old_${tag}`, cluster: 'edge-a' }, [[1, now()]]),
            series({ __name__: `new_${tag}`, cluster: 'edge-a' }, [[1, now()]]),
          ]),
        )
      ).status;

    expect(await pushPair('a')).toBe(204);
    await waitFor('new_a', async () => (names().includes('new_a') ? true : undefined));
    expect(names()).not.toContain('old_a');

    // New rules: drop new_*, keep old_*; requests keep flowing while the config is reloaded.
    writeFileSync(configPath, original.replace('regex: "old_.*"', 'regex: "new_.*"'));
    const statuses: number[] = [];
    let reloads = 0;
    const load = (async () => {
      for (let i = 0; i < 40; i++) statuses.push(await pushPair(`load${i}`));
    })();
    while (reloads < 20) {
      expect(env.server.reload()).toBe(true);
      reloads++;
      await new Promise((r) => setTimeout(r, 2));
    }
    await load;
    expect(statuses.every((s) => s === 204)).toBe(true);

    expect(await pushPair('b')).toBe(204);
    await waitFor('old_b after the reload', async () => (names().includes('old_b') ? true : undefined));
    expect(names()).not.toContain('new_b');

    // A bad rule: refused, the rules in force stay.
    writeFileSync(configPath, original.replace('action: drop', 'action: dorp'));
    expect(env.server.reload()).toBe(false);
    expect(metricValue(await env.metricsText(), 'tributary_config_last_reload_successful', {})).toBe(0);
    expect(await pushPair('c')).toBe(204);
    await waitFor('old_c after the refused reload', async () => (names().includes('old_c') ? true : undefined));
    expect(names()).not.toContain('new_c');
    writeFileSync(configPath, original);
  });

  it('applies a backend’s new write_relabel_configs without a restart', async () => {
    const original = readFileSync(configPath, 'utf8');
    writeFileSync(configPath, original.replace('    max_backoff: 50ms\n', '    max_backoff: 50ms\n    write_relabel_configs:\n      - {target_label: via, replacement: reloaded}\n'));
    expect(env.server.reload()).toBe(true);
    expect((await push(env.url, body([series({ __name__: 'after_backend_reload', cluster: 'edge-a' }, [[1, now()]])]))).status).toBe(204);
    const got = await waitFor('the series after the backend reload', async () => receivedByName(env).get('after_backend_reload'));
    expect(got[0]?.via).toBe('reloaded');
  });
});
