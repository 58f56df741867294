/**
 * `npm run demo`: two edge clusters push through tributary into one central Prometheus, all on
 * 127.0.0.1. Prints the central URL and `count by (cluster, tenant) (up)` once both clusters
 * arrived; Ctrl-C stops exactly what it started. `--once` exits after printing (for scripts).
 */
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { INSTALL_HINT, missingBinaries, startTopology } from './lib/topology.js';

const HELP = `usage: npm run demo -- [--central-port N] [--tributary-port N] [--node-exporter-port N]
                       [--edge-a-port N] [--edge-b-port N] [--dir DIR] [--once]
Ports default to 19090 (central), 19201 (tributary), 19100 (node_exporter), 19091/19092 (edges).`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      'central-port': { type: 'string', default: '19090' },
      'tributary-port': { type: 'string', default: '19201' },
      'node-exporter-port': { type: 'string', default: '19100' },
      'edge-a-port': { type: 'string', default: '19091' },
      'edge-b-port': { type: 'string', default: '19092' },
      dir: { type: 'string', default: '.demo' },
      once: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const port = (name: keyof typeof values): number => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n <= 0 || n > 65535) throw new Error(`--${name} must be a port number (got ${String(values[name])})`);
    return n;
  };

  const missing = missingBinaries();
  if (missing.length > 0) {
    console.error(`demo: ${missing.join(' and ')} not found on PATH; ${INSTALL_HINT}`);
    return 1;
  }

  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const topology = await startTopology(
    {
      dir: resolve(values.dir),
      centralPort: port('central-port'),
      tributaryPort: port('tributary-port'),
      nodeExporterPort: port('node-exporter-port'),
      edgePorts: [port('edge-a-port'), port('edge-b-port')],
      edges: [
        { cluster: 'edge-a', tenant: 'team-a' },
        { cluster: 'edge-b', tenant: 'team-b' },
      ],
    },
    [process.execPath, join(repoRoot, 'dist', 'src', 'main.js')],
  );
  let stopping = false;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log('\nstopping the demo processes...');
    await topology.stop();
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));

  console.log(`central Prometheus: ${topology.centralUrl}  (try the query below in its UI)`);
  console.log(`tributary:          ${topology.tributaryUrl}/metrics`);
  console.log(`logs and configs:   ${resolve(values.dir)}`);
  console.log('waiting for both clusters to arrive at the central Prometheus...');

  // The central Prometheus also scrapes tributary itself: that `up` has neither label.
  const query = 'count by (cluster, tenant) (up)';
  const wanted = ['edge-a/team-a', 'edge-b/team-b'];
  const deadline = Date.now() + 90_000;
  let result: Awaited<ReturnType<typeof topology.query>> = [];
  for (;;) {
    result = await topology.query(query).catch(() => []);
    const seen = new Set(result.map((r) => `${r.metric.cluster}/${r.metric.tenant}`));
    if (wanted.every((w) => seen.has(w)) || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  console.log(`\n${query}:`);
  for (const r of result) {
    const labels = Object.entries(r.metric)
      .map(([k, v]) => `${k}="${v}"`)
      .join(', ');
    console.log(`  {${labels}}  ${r.value[1]}`);
  }
  const seen = new Set(result.map((r) => `${r.metric.cluster}/${r.metric.tenant}`));
  if (!wanted.every((w) => seen.has(w))) {
    console.error(`not every cluster arrived within 90 s (wanted ${wanted.join(', ')}); see the logs in ${resolve(values.dir)}/logs`);
    await shutdown(1);
  }
  if (values.once) {
    await shutdown(0);
    return 0;
  }
  console.log('\nrunning; press Ctrl-C to stop.');
  return -1;
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    console.error(`demo: ${(err as Error).message}`);
    process.exit(1);
  },
);
