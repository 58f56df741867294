/**
 * Differential test of relabeling against the real thing: one edge Prometheus 2.42 (agent mode)
 * sends the same series twice,
 *   1. straight to central-direct, relabeled by Prometheus itself (`write_relabel_configs: RULES`);
 *   2. unrelabeled to tributary, which applies the same RULES split over its three stages (global,
 *      tenant, backend) and forwards to central-via.
 * The sets of series stored by the two centrals must be identical. This proves both that each rule
 * behaves as in Prometheus 2.42 and that tributary's chain equals the concatenation of its stages.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { stringify } from 'yaml';
import { type Proc, startProc, waitForHttp } from '../../scripts/lib/procs.js';
import { generateToken, hashToken } from '../../src/auth/token.js';
import { TRIBUTARY_MAIN, e2eAvailable, eventually } from '../support/e2e.js';
import { freePorts } from '../support/ports.js';
import { RULES, RULE_STAGES, UNICODE_LOWER, UNICODE_PARTS, UNICODE_UPPER, UNICODE_VALUE } from '../support/relabel-differential-rules.js';

const CLUSTER = 'edge-x';
const TENANT = 'team-a';
/** Scrapes each central must hold of both targets before the comparison window is closed. */
const MIN_SCRAPES = 4;

type Labels = Record<string, string>;
type Vector = Array<{ metric: Labels; value: [number, string] }>;

async function apiGet<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as { status: string; error?: string; data?: T };
  if (body.status !== 'success' || body.data === undefined) throw new Error(`${url}: ${body.error ?? `HTTP ${res.status}`}`);
  return body.data;
}

function instantQuery(base: string, promql: string): Promise<Vector> {
  return apiGet<{ result: Vector }>(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`).then((d) => d.result);
}

/** The label sets a central holds for the edge's cluster in [start, end] (seconds), as canonical JSON, sorted. */
async function seriesSet(base: string, start: number, end: number): Promise<string[]> {
  const match = encodeURIComponent(`{cluster="${CLUSTER}"}`);
  const data = await apiGet<Labels[]>(`${base}/api/v1/series?match[]=${match}&start=${start}&end=${end}`);
  return data.map((labels) => JSON.stringify(Object.fromEntries(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))))).sort();
}

/** Prometheus 2.42 hashmod: md5, bytes 8..15 as a big-endian uint64, mod `modulus`. */
function hashmod(value: string, modulus: bigint): string {
  return (createHash('md5').update(value, 'utf8').digest().readBigUInt64BE(8) % modulus).toString();
}

describe.runIf(e2eAvailable())('relabeling: tributary (global + tenant + backend) equals Prometheus 2.42 write_relabel_configs', () => {
  const dir = join(tmpdir(), `tributary-relabel-diff-${process.pid}`);
  const procs: Proc[] = [];
  let directUrl = '';
  let viaUrl = '';
  let tributaryUrl = '';
  /** Start of the comparison window (seconds): before the edge existed. */
  let windowStart = 0;

  beforeAll(async () => {
    const [nodePort, directPort, viaPort, tribPort, edgePort] = (await freePorts(5)) as [number, number, number, number, number];
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, 'logs'), { recursive: true });
    const log = (name: string) => join(dir, 'logs', `${name}.log`);
    directUrl = `http://127.0.0.1:${directPort}`;
    viaUrl = `http://127.0.0.1:${viaPort}`;
    tributaryUrl = `http://127.0.0.1:${tribPort}`;

    const token = generateToken();
    const tokenFile = join(dir, 'edge.token');
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });

    writeFileSync(
      join(dir, 'tributary.yml'),
      stringify({
        server: { listen_address: `127.0.0.1:${tribPort}` },
        data_dir: join(dir, 'tributary-data'),
        relabel_configs: RULE_STAGES.global,
        tenants: { [TENANT]: { relabel_configs: RULE_STAGES.tenant } },
        tokens: [{ tenant: TENANT, clusters: [CLUSTER], token_sha256: hashToken(token) }],
        backends: [{ name: 'central', url: `${viaUrl}/api/v1/write`, write_relabel_configs: RULE_STAGES.backend }],
      }),
    );
    // The centrals scrape nothing: everything they hold came from the edge.
    writeFileSync(join(dir, 'central.yml'), stringify({ global: { scrape_interval: '15s' } }));
    const queueConfig = { batch_send_deadline: '1s', min_backoff: '100ms', max_backoff: '1s' };
    writeFileSync(
      join(dir, 'edge.yml'),
      stringify({
        global: { scrape_interval: '2s', external_labels: { cluster: CLUSTER } },
        scrape_configs: [
          { job_name: 'node', static_configs: [{ targets: [`127.0.0.1:${nodePort}`] }] },
          { job_name: 'prometheus', static_configs: [{ targets: [`127.0.0.1:${edgePort}`] }] },
        ],
        remote_write: [
          { name: 'direct', url: `${directUrl}/api/v1/write`, write_relabel_configs: RULES, queue_config: queueConfig },
          { name: 'via-tributary', url: `${tributaryUrl}/api/v1/write`, authorization: { credentials_file: tokenFile }, queue_config: queueConfig },
        ],
      }),
    );

    const nodeExporter = startProc('node_exporter', 'prometheus-node-exporter', [`--web.listen-address=127.0.0.1:${nodePort}`], log('node_exporter'));
    procs.push(nodeExporter);
    const centrals = (['direct', 'via'] as const).map((name) => {
      const port = name === 'direct' ? directPort : viaPort;
      const p = startProc(
        `central-${name}`,
        'prometheus',
        [
          `--config.file=${join(dir, 'central.yml')}`,
          `--storage.tsdb.path=${join(dir, `central-${name}-data`)}`,
          `--web.listen-address=127.0.0.1:${port}`,
          '--web.enable-remote-write-receiver',
        ],
        log(`central-${name}`),
      );
      procs.push(p);
      return p;
    });
    const tributary = startProc('tributary', process.execPath, [TRIBUTARY_MAIN, 'serve', '--config', join(dir, 'tributary.yml')], log('tributary'));
    procs.push(tributary);
    await waitForHttp(`http://127.0.0.1:${nodePort}/metrics`, nodeExporter);
    await waitForHttp(`${directUrl}/-/ready`, centrals[0]);
    await waitForHttp(`${viaUrl}/-/ready`, centrals[1]);
    await waitForHttp(`${tributaryUrl}/-/ready`, tributary);

    windowStart = Math.floor(Date.now() / 1000) - 1;
    const edge = startProc(
      'edge',
      'prometheus',
      ['--enable-feature=agent', `--config.file=${join(dir, 'edge.yml')}`, `--storage.agent.path=${join(dir, 'edge-wal')}`, `--web.listen-address=127.0.0.1:${edgePort}`],
      log('edge'),
    );
    procs.push(edge);
    await waitForHttp(`http://127.0.0.1:${edgePort}/-/ready`, edge);
  }, 90_000);

  /** Set when a test fails: the configs and logs in `dir` are kept for a look. */
  let keepDir = false;
  const keepDirOnFailure = () =>
    onTestFailed(() => {
      keepDir = true;
    });

  afterAll(async () => {
    for (const p of [...procs].reverse()) await p.stop();
    if (keepDir) console.error(`relabel differential: configs and logs kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  /** tributary's non-zero rejection and drop counters, to explain a missing or short via side. */
  async function tributaryDrops(): Promise<string> {
    const metrics = await (await fetch(`${tributaryUrl}/metrics`)).text();
    return metrics
      .split('\n')
      .filter((l) => /^tributary_\w*(reject|drop|restor)\w*\{/.test(l) && !/ 0$/.test(l))
      .join('\n');
  }

  /**
   * Both sides' series over one window, collected once for all tests.
   *
   * Fairness: the two remote_write queues of the edge (and tributary behind one of them) deliver the
   * same WAL at slightly different moments, and the edge's own metrics gain series while it runs
   * (e.g. remote-storage and HTTP-handler series appear after the first sends). Comparing "whatever
   * each central has right now" could therefore differ by series that are merely late. So:
   * - wait until each central holds at least MIN_SCRAPES scrapes of both targets;
   * - close the window at `windowEnd` (now, minus a second);
   * - wait until each central holds an `up` sample of both targets newer than windowEnd + 2 s. Every
   *   series that got its first sample by windowEnd was appended to the WAL before those `up`
   *   samples, and each queue (and tributary) sends in order, so both centrals have it by then;
   * - ask both for the series with samples in [windowStart, windowEnd]. Series born after
   *   windowEnd are left out on both sides alike (a head chunk starts at a series' first sample).
   */
  let collected: Promise<{ direct: string[]; via: string[]; windowEnd: number }> | undefined;
  function collect(): Promise<{ direct: string[]; via: string[]; windowEnd: number }> {
    collected ??= (async () => {
      try {
        return await collectOnce();
      } catch (err) {
        const drops = await tributaryDrops().catch((e: Error) => `(tributary /metrics: ${e.message})`);
        throw new Error(`${(err as Error).message}${drops === '' ? '' : `\ntributary rejections/drops:\n${drops}`}`);
      }
    })();
    return collected;
  }
  /** Wait until a central holds MIN_SCRAPES scrapes of both targets. */
  function scrapesArrived(side: string, base: string, timeoutMs: number): Promise<boolean> {
    return eventually(
      `${MIN_SCRAPES} scrapes of both targets at ${side}`,
      async () => {
        const rows = await instantQuery(base, 'count_over_time(up[5m])');
        const jobs = rows.filter((r) => Number(r.value[1]) >= MIN_SCRAPES).map((r) => r.metric.job);
        return jobs.includes('node') && jobs.includes('prometheus') ? true : undefined;
      },
      timeoutMs,
    );
  }
  async function collectOnce(): Promise<{ direct: string[]; via: string[]; windowEnd: number }> {
    await scrapesArrived('central-direct', directUrl, 45_000);
    // The same edge feeds both: once central-direct has its scrapes, the via side is at most a few seconds behind.
    await scrapesArrived('central-via (tributary)', viaUrl, 20_000);
    const windowEnd = Date.now() / 1000 - 1;
    for (const [side, base] of [['central-direct', directUrl], ['central-via (tributary)', viaUrl]] as const) {
      await eventually(
        `up samples newer than the window at ${side}`,
        async () => {
          const rows = await instantQuery(base, 'timestamp(up)');
          const fresh = rows.filter((r) => Number(r.value[1]) > windowEnd + 2).map((r) => r.metric.job);
          return fresh.includes('node') && fresh.includes('prometheus') ? true : undefined;
        },
        20_000,
      );
    }
    const [direct, via] = await Promise.all([seriesSet(directUrl, windowStart, windowEnd), seriesSet(viaUrl, windowStart, windowEnd)]);
    return { direct, via, windowEnd };
  }

  it('the reference: Prometheus 2.42 applied every rule as expected (so the comparison is not vacuous)', async () => {
    keepDirOnFailure();
    // Only the reference side: this holds whatever tributary does.
    await scrapesArrived('central-direct', directUrl, 45_000);
    const direct = await seriesSet(directUrl, windowStart, Date.now() / 1000);
    const series = direct.map((s) => JSON.parse(s) as Labels);
    expect(series.length).toBeGreaterThan(50);
    const names = new Set(series.map((s) => s.__name__ ?? ''));
    const jobs = new Set(series.map((s) => s.job));
    expect([...jobs].sort()).toEqual(['node', 'prometheus']);

    for (const s of series) {
      const job = s.job ?? '';
      const instance = s.instance ?? '';
      const port = /:(\d+)$/.exec(instance)?.[1] ?? 'none';
      expect(s.cluster).toBe(CLUSTER);
      expect(s.__tmp_keepme).toBe(`sent-${job}`);
      expect(s.shard).toBe(hashmod(instance, 2n));
      expect(s.miss).toBe(`missing-first:${job}`);
      expect(s.uni).toBe(UNICODE_VALUE);
      expect(s.uni_up).toBe(UNICODE_UPPER);
      expect(s.uni_low).toBe(UNICODE_LOWER);
      expect(s.uni_parts).toBe(UNICODE_PARTS);
      expect(s.cluster_suffix).toBe('x');
      expect(s.job_up).toBe(job.toUpperCase());
      expect(s[`port_${port}`]).toBe(`p${port}`);
      // Empty replacement deleted job_copy for the prometheus job only.
      expect(s.job_copy).toBe(job === 'node' ? 'node' : undefined);
      // Removed by labeldrop / labelkeep.
      expect(s.job_guess).toBeUndefined();
      expect(s.Scratch_one).toBeUndefined();
      expect(s.Xtra).toBeUndefined();
      // labelmap copies.
      if (s.mode !== undefined) expect(s.lm_mode).toBe(s.mode);
      if (s.device !== undefined) expect(s.lm_device).toBe(s.device);
      if (s.collector !== undefined) expect(s.lm_collector).toBe(s.collector);
      // dropequal removed the cpu whose number equals the shard.
      if (s.cpu !== undefined) expect(s.cpu).not.toBe(s.shard);
      // Templated target label.
      const fam = /^(node|prometheus)_([A-Za-z]+)_/.exec(s.__name__ ?? '');
      if (fam) expect(s[`fam_${fam[1]}`]).toBe(fam[2]);
      // The corners at the end of the list.
      expect(s.h53).toBe(hashmod(instance, 9007199254740991n));
      expect(s.hbig).toBe(hashmod(`${s.__name__};${instance}`, 1000000007n));
      expect(s.regex_empty).toBe('matched');
      expect(s.quoted).toBe(`q-${job}`);
      expect(s.kelvin_matched).toBe('yes');
      expect(s.dollar).toBe('$1--${job');
      expect(s.wrap).toBe(job === 'node' ? 'w' : 'wprometheus');
      expect(s.brace).toBe(job === 'node' ? 'b' : undefined);
      expect(s.lc_concat).toBe(`${job}${UNICODE_LOWER}`);
      expect(s.second_word).toBe('İSTANBUL');
      expect(Object.keys(s).some((k) => k.includes('$'))).toBe(false);
      if (s.mode !== undefined) expect(s.coll).toBe(s.mode);
      else if (s.cpu !== undefined) expect(s.coll).toBe(s.cpu);
      if (s.__name__ === 'node_cpu_seconds_total') {
        expect(s.rep_caps).toBe('node-cpu');
        expect(s.ungreedy).toBe('node_cpu|seconds_total');
        expect(s.dupnames).toBe('node.');
      }
      if (s.__name__?.startsWith('prometheus_')) expect(s.dupnames).toBe('.prom');
    }
    const kept = [...names];
    // keepequal dropped go_* and process_*; drop removed softnet, scrape_collector and (?i) vmstat.
    expect(kept.filter((n) => /^(go|process)_|^node_(softnet|scrape_collector|vmstat)_/.test(n))).toEqual([]);
    // keep dropped every name with a digit (node_load1 ...).
    expect(kept.filter((n) => /\d/.test(n))).toEqual([]);
    // The rename.
    expect(kept.filter((n) => /^node_network_.*_total$/.test(n))).toEqual([]);
    expect(kept.filter((n) => n.startsWith('nn_')).length).toBeGreaterThan(3);
    expect(names.has('up')).toBe(true);
    expect(names.has('node_cpu_seconds_total')).toBe(true);
    expect(kept.some((n) => n.startsWith('prometheus_'))).toBe(true);
    expect(series.some((s) => s.lm_mode !== undefined && s.lm_device === undefined)).toBe(true);
  }, 60_000);

  it('tributary stores exactly the same set of series as Prometheus relabeling itself', async () => {
    keepDirOnFailure();
    const { direct, via, windowEnd } = await collect();
    const directSet = new Set(direct);
    const viaSet = new Set(via);
    const onlyDirect = direct.filter((s) => !viaSet.has(s));
    const onlyVia = via.filter((s) => !directSet.has(s));
    if (onlyDirect.length > 0 || onlyVia.length > 0) {
      console.error(
        `relabel differential over [${windowStart}, ${windowEnd}]: ${direct.length} series direct, ${via.length} via tributary; ` +
          `${onlyDirect.length} only direct, ${onlyVia.length} only via.\n` +
          `first only direct: ${onlyDirect.slice(0, 3).join('\n                   ')}\n` +
          `first only via:    ${onlyVia.slice(0, 3).join('\n                   ')}`,
      );
      const drops = await tributaryDrops();
      if (drops !== '') console.error(`tributary rejections/drops:\n${drops}`);
    }
    expect(direct.length).toBeGreaterThan(50);
    expect(onlyDirect.slice(0, 5)).toEqual([]);
    expect(onlyVia.slice(0, 5)).toEqual([]);
    expect(via).toEqual(direct);
    console.log(`relabel differential: ${direct.length} series identical on both centrals over [${windowStart}, ${windowEnd.toFixed(3)}]`);
    // Labels of each kind of rule made it through tributary too (implied by equality, stated for clarity).
    const viaSeries = via.map((s) => JSON.parse(s) as Labels);
    for (const label of ['shard', 'h53', 'uni_up', 'uni_low', 'uni_parts', '__tmp_keepme', 'miss', 'lm_mode', 'coll', 'job_up', 'cluster_suffix', 'fam_node', 'rep_caps', 'dollar']) {
      expect(viaSeries.some((s) => s[label] !== undefined), label).toBe(true);
    }
  }, 60_000);
});
