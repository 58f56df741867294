/**
 * Fault tests with real processes: Debian's Prometheus 2.42 as the backend, tributary as its own
 * process on a data directory, and a bounded load generator that behaves like edge shards. The
 * promise under test: every sample tributary acknowledged (2xx) arrives at the central Prometheus,
 * through backend outages, a SIGKILL of tributary, and a full queue.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compress } from 'snappyjs';
import { afterEach, describe, expect, it } from 'vitest';
import { type Proc, startProc, waitForHttp } from '../../scripts/lib/procs.js';
import { TRIBUTARY_MAIN, e2eAvailable, eventually } from '../support/e2e.js';
import { EdgeLoad } from '../support/edge-load.js';
import { freePorts } from '../support/ports.js';
import { type RefTimeSeriesInput, reference } from '../support/reference-codec.js';

const available = e2eAvailable();
const TOKEN = 'trib_fault-test-token';

interface Rig {
  dir: string;
  centralPort: number;
  tributaryPort: number;
  central: Proc | undefined;
  tributary: Proc | undefined;
  startCentral(): Promise<void>;
  startTributary(): Promise<void>;
  count(run: string): Promise<number>;
  stop(): Promise<void>;
}

const rigs: Rig[] = [];

async function makeRig(name: string, backendExtraYaml = ''): Promise<Rig> {
  const dir = join(tmpdir(), `tributary-fault-${name}-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const [centralPort, tributaryPort] = (await freePorts(2)) as [number, number];
  writeFileSync(join(dir, 'central.yml'), 'global:\n  scrape_interval: 1m\n');
  writeFileSync(
    join(dir, 'tributary.yml'),
    `server:
  listen_address: 127.0.0.1:${tributaryPort}
  shutdown_timeout: 2s
data_dir: ${join(dir, 'tributary-data')}
tokens:
  - {tenant: team-a, clusters: [edge-a], token_sha256: ${createHash('sha256').update(TOKEN).digest('hex')}}
backends:
  - name: central
    url: http://127.0.0.1:${centralPort}/api/v1/write
    min_backoff: 50ms
    max_backoff: 500ms
${backendExtraYaml}`,
  );
  const rig: Rig = {
    dir,
    centralPort,
    tributaryPort,
    central: undefined,
    tributary: undefined,
    async startCentral() {
      rig.central = startProc(
        'central',
        'prometheus',
        [
          `--config.file=${join(dir, 'central.yml')}`,
          `--storage.tsdb.path=${join(dir, 'central-data')}`,
          `--web.listen-address=127.0.0.1:${centralPort}`,
          '--web.enable-remote-write-receiver',
        ],
        join(dir, 'logs', 'central.log'),
      );
      await waitForHttp(`http://127.0.0.1:${centralPort}/-/ready`, rig.central);
    },
    async startTributary() {
      rig.tributary = startProc(
        'tributary',
        process.execPath,
        [TRIBUTARY_MAIN, 'serve', '--config', join(dir, 'tributary.yml')],
        join(dir, 'logs', 'tributary.log'),
      );
      await waitForHttp(`http://127.0.0.1:${tributaryPort}/-/ready`, rig.tributary);
    },
    async count(run) {
      const query = `sum(count_over_time(e2e_load{run="${run}"}[2h]))`;
      const res = await fetch(`http://127.0.0.1:${centralPort}/api/v1/query?query=${encodeURIComponent(query)}`);
      const body = (await res.json()) as { data?: { result: Array<{ value: [number, string] }> } };
      return Number(body.data?.result[0]?.value[1] ?? 0);
    },
    async stop() {
      await rig.tributary?.stop();
      await rig.central?.stop();
    },
  };
  rigs.push(rig);
  return rig;
}

function load(rig: Rig, run: string, requestsPerShard: number): EdgeLoad {
  return new EdgeLoad({
    url: `http://127.0.0.1:${rig.tributaryPort}`,
    token: TOKEN,
    run,
    cluster: 'edge-a',
    shards: 4,
    seriesPerShard: 50,
    startMs: Date.now() - 10 * 60_000,
    stepMs: 100,
    maxRequestsPerShard: requestsPerShard,
    intervalMs: 20,
  });
}

async function expectAllAcknowledgedArrive(rig: Rig, run: string, gen: EdgeLoad): Promise<void> {
  expect(gen.acknowledgedSamples).toBeGreaterThan(0);
  await eventually(
    `central to hold all ${gen.acknowledgedSamples} acknowledged samples of run ${run}`,
    async () => ((await rig.count(run)) >= gen.acknowledgedSamples ? true : undefined),
    60_000,
    1000,
  );
  expect(await rig.count(run)).toBe(gen.acknowledgedSamples);
}

afterEach(async () => {
  for (const rig of rigs.splice(0)) await rig.stop();
});

describe.runIf(available)('fault tolerance against a real Prometheus 2.42', () => {
  it('keeps every acknowledged sample through a backend outage, and drains the backlog after', async () => {
    const rig = await makeRig('outage');
    await rig.startCentral();
    await rig.startTributary();
    const gen = load(rig, 'outage', 150);
    gen.start();
    await new Promise((r) => setTimeout(r, 1500));
    await rig.central?.stop();
    await new Promise((r) => setTimeout(r, 4000));
    await rig.startCentral();
    await gen.finished();
    await expectAllAcknowledgedArrive(rig, 'outage', gen);
  }, 120_000);

  it('keeps every acknowledged sample when tributary is SIGKILLed under load and restarted', async () => {
    const rig = await makeRig('sigkill');
    await rig.startCentral();
    await rig.startTributary();
    const gen = load(rig, 'sigkill', 150);
    gen.start();
    await new Promise((r) => setTimeout(r, 2000));
    await rig.tributary?.kill();
    await new Promise((r) => setTimeout(r, 500));
    await rig.startTributary();
    await gen.finished();
    expect(gen.refusals.get('network') ?? 0).toBeGreaterThan(0);
    await expectAllAcknowledgedArrive(rig, 'sigkill', gen);
  }, 120_000);

  it('answers 503 when the queue is at its cap, and the retried requests succeed once it drained', async () => {
    const rig = await makeRig('cap', '    max_queue_bytes: 64KiB\n');
    await rig.startTributary();
    const gen = load(rig, 'cap', 60);
    gen.start();
    await eventually('a 503 from the full queue', async () => ((gen.refusals.get('503') ?? 0) > 0 ? true : undefined), 30_000, 100);
    await rig.startCentral();
    await gen.finished();
    await expectAllAcknowledgedArrive(rig, 'cap', gen);
    expect(gen.acknowledgedRequests).toBe(4 * 60);
  }, 120_000);

  it('forwards the good samples of a request that carries one out-of-order sample', async () => {
    const rig = await makeRig('ooo');
    await rig.startCentral();
    await rig.startTributary();
    const t = Date.now() - 60_000;
    const push = async (timeseries: RefTimeSeriesInput[]) => {
      const res = await fetch(`http://127.0.0.1:${rig.tributaryPort}/api/v1/write`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy' },
        body: Buffer.from(compress(reference.encode({ timeseries }))),
      });
      return res.status;
    };
    const s = (series: string, ts: number, value: number) => ({
      labels: [
        { name: '__name__', value: 'e2e_load' },
        { name: 'cluster', value: 'edge-a' },
        { name: 'run', value: 'ooo' },
        { name: 'series', value: series },
      ],
      samples: [{ value, timestamp: ts }],
    });
    expect(await push([s('x', t + 10_000, 1)])).toBe(204);
    // x is older than what was accepted: without tributary's high-water mark, central 2.42 would
    // refuse this whole request (400 out of order) and y and z would be lost.
    expect(await push([s('x', t, 2), s('y', t, 3), s('z', t, 4)])).toBe(204);
    await eventually('y and z at central', async () => ((await rig.count('ooo')) >= 3 ? true : undefined), 30_000, 500);
    expect(await rig.count('ooo')).toBe(3);
  }, 60_000);
});
