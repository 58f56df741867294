/**
 * The active-series limit with real Prometheus 2.42: an agent-mode edge scraping node_exporter
 * (hundreds of series) under a tenant limit of 40. Exactly 40 series reach central, and they keep
 * getting samples; the edge's other series are refused as new.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Topology, startTopology } from '../../scripts/lib/topology.js';
import { TRIBUTARY_MAIN, e2eAvailable, eventually, scrapeMetric } from '../support/e2e.js';
import { freePorts } from '../support/ports.js';

const LIMIT = 40;

describe.runIf(e2eAvailable())('an edge over its active-series limit, with a real Prometheus 2.42', () => {
  let topo: Topology;

  beforeAll(async () => {
    const [central, trib, nodeExp, edge] = await freePorts(4);
    topo = await startTopology(
      {
        dir: join(tmpdir(), `tributary-e2e-active-${process.pid}`),
        centralPort: central as number,
        tributaryPort: trib as number,
        nodeExporterPort: nodeExp as number,
        edgePorts: [edge as number],
        edges: [{ cluster: 'edge-a', tenant: 'team-a' }],
        scrapeInterval: '1s',
        tributaryExtraYaml: `limits:\n  max_active_series: ${LIMIT}\n`,
      },
      [process.execPath, TRIBUTARY_MAIN],
    );
  }, 90_000);

  afterAll(async () => {
    await topo?.stop();
  });

  /** Every series the edge sent, at central, with its samples of the last 5 minutes (central also scrapes tributary, whose metrics name clusters). */
  async function stored(): Promise<Array<{ metric: Record<string, string>; values: Array<[number, string]> }>> {
    const res = await fetch(`${topo.centralUrl}/api/v1/query?query=${encodeURIComponent('{cluster="edge-a",job!="tributary"}[5m]')}`);
    const body = (await res.json()) as { data?: { result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> } };
    return body.data?.result ?? [];
  }

  it('lets exactly the limit of series through, keeps them flowing, and refuses the new ones', async () => {
    await eventually('samples at central', async () => ((await stored()).length > 0 ? true : undefined), 60_000);
    const refused = await eventually(
      'refused new series',
      async () => {
        const n = await scrapeMetric(topo.tributaryUrl, 'tributary_ingest_rejected_series_total', { tenant: 'team-a', reason: 'max_active_series' });
        return n > 0 ? n : undefined;
      },
      30_000,
    );
    expect(refused).toBeGreaterThan(0);
    // A few more scrapes (1s apart): every admitted series keeps getting samples.
    const since = Date.now() / 1000;
    const series = await eventually(
      'a newer sample of every admitted series',
      async () => {
        const now = await stored();
        return now.every((s) => (s.values.at(-1)?.[0] ?? 0) > since + 2) ? now : undefined;
      },
      30_000,
    );
    expect(series).toHaveLength(LIMIT);
    expect(await scrapeMetric(topo.tributaryUrl, 'tributary_active_series', { tenant: 'team-a', cluster: 'edge-a' })).toBe(LIMIT);
  });
});
