/**
 * The real thing: Debian's Prometheus 2.42 as the central receiver and as agent-mode edges,
 * node_exporter as the scraped target, tributary in between as its own process.
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Topology, startTopology } from '../../scripts/lib/topology.js';
import { TRIBUTARY_MAIN, e2eAvailable, eventually, scrapeMetric } from '../support/e2e.js';
import { encodeWriteRequest } from '../support/forward-helpers.js';
import { freePorts } from '../support/ports.js';

const available = e2eAvailable();

async function push(url: string, body: Buffer, token: string | undefined): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = {
    'content-type': 'application/x-protobuf',
    'content-encoding': 'snappy',
    'x-prometheus-remote-write-version': '0.1.0',
  };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${url}/api/v1/write`, { method: 'POST', headers, body });
  return { status: res.status, text: await res.text() };
}

describe.runIf(available)('edges push through tributary into a central Prometheus 2.42', () => {
  let topo: Topology;

  beforeAll(async () => {
    const [central, trib, nodeExp, a, b, rogue] = await freePorts(6);
    topo = await startTopology(
      {
        dir: join(tmpdir(), `tributary-e2e-${process.pid}`),
        centralPort: central as number,
        tributaryPort: trib as number,
        nodeExporterPort: nodeExp as number,
        edgePorts: [a as number, b as number, rogue as number],
        edges: [
          { cluster: 'edge-a', tenant: 'team-a' },
          { cluster: 'edge-b', tenant: 'team-b' },
          // Misconfigured: a team-a token bound to edge-a, but the edge claims cluster edge-b.
          { cluster: 'edge-b', tenant: 'team-a', tokenClusters: ['edge-a'] },
        ],
        scrapeInterval: '2s',
      },
      [process.execPath, TRIBUTARY_MAIN],
    );
  }, 90_000);

  afterAll(async () => {
    await topo?.stop();
  });

  it("both clusters' up series arrive with their cluster and tenant labels", async () => {
    const rows = await eventually('up from edge-a and edge-b at central', async () => {
      const result = await topo.query('count by (cluster, tenant) (up{job="node"})');
      return result.length >= 2 ? result : undefined;
    });
    const pairs = rows.map((r) => `${r.metric.cluster}/${r.metric.tenant}`).sort();
    expect(pairs).toEqual(['edge-a/team-a', 'edge-b/team-b']);
    const up = await topo.query('up{job="node"}');
    expect(up.every((r) => r.value[1] === '1')).toBe(true);
    // node_exporter's own series arrive too, not only up.
    const cpu = await topo.query('count by (cluster) (node_cpu_seconds_total)');
    expect(cpu.map((r) => r.metric.cluster).sort()).toEqual(['edge-a', 'edge-b']);
  }, 90_000);

  it('an edge whose token is bound to another cluster gets nothing through, and it is counted', async () => {
    const rejected = await eventually('cluster_mismatch rejections for team-a', async () => {
      const n = await scrapeMetric(topo.tributaryUrl, 'tributary_ingest_rejected_samples_total', { tenant: 'team-a', reason: 'cluster_mismatch' });
      return n > 0 ? n : undefined;
    });
    expect(rejected).toBeGreaterThan(0);
    expect(await topo.query('up{cluster="edge-b", tenant="team-a"}')).toEqual([]);
    expect(await topo.query('count(node_cpu_seconds_total{tenant="team-a", cluster!="edge-a"})')).toEqual([]);
  }, 90_000);

  it('a direct push mixing clusters: 400 naming the series, the good series arrive, the foreign ones do not', async () => {
    const now = Date.now();
    const body = encodeWriteRequest([
      { labels: { __name__: 'e2e_direct_push', cluster: 'edge-a', which: 'good' }, samples: [[1, now]] },
      { labels: { __name__: 'e2e_direct_push', cluster: 'edge-b', which: 'foreign' }, samples: [[2, now]] },
    ]);
    const res = await push(topo.tributaryUrl, body, topo.tokens[0]);
    expect(res.status).toBe(400);
    expect(res.text).toContain('cluster="edge-b"');
    expect(res.text).toContain('e2e_direct_push');
    expect(res.text).toContain('may only write cluster "edge-a"');
    expect(res.text).toContain('(tributary: cluster_mismatch)');

    const good = await eventually('the good series at central', async () => {
      const r = await topo.query('e2e_direct_push');
      return r.length > 0 ? r : undefined;
    });
    expect(good.map((r) => r.metric)).toEqual([{ __name__: 'e2e_direct_push', cluster: 'edge-a', tenant: 'team-a', which: 'good' }]);
  }, 60_000);

  it('answers 401 without a token and 204 to a metadata-only request from Prometheus 2.42', async () => {
    const body = encodeWriteRequest([{ labels: { __name__: 'e2e_no_token', cluster: 'edge-a' }, samples: [[1, Date.now()]] }]);
    const unauth = await push(topo.tributaryUrl, body, undefined);
    expect(unauth.status).toBe(401);
    expect(unauth.text).toContain('missing_token');

    const metadataOnly = readFileSync(new URL('../fixtures/prometheus-2.42-agent/req-005.bin', import.meta.url));
    const res = await push(topo.tributaryUrl, metadataOnly, topo.tokens[0]);
    expect(res.status).toBe(204);
  }, 30_000);
});
