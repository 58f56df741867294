/**
 * Micro-benchmark of relabeling: what ten typical rules (bench/lib/relabel-rules.ts) cost per
 * sample in the receive pipeline, with the per-series cache warm and with no cache, and what the
 * rules alone cost per series with RE2 (tributary's engine) against JavaScript's RegExp.
 *
 *   npm run build && node dist/bench/micro/relabel.js
 *
 * The high-water mark is off in every pipeline here, so replaying the same requests measures the
 * normal path and the differences are relabeling's own. One sample per series per request, as
 * Prometheus sends: the per-sample figures are per-series figures.
 */
import { createPrincipal } from '../../src/auth/principal.js';
import { parseConfigText } from '../../src/config/load.js';
import { type RouteTarget, WritePipeline } from '../../src/pipeline.js';
import { type RelabelStages, relabelStages, TenantChain } from '../../src/relabel/chain.js';
import type { RelabelRegex } from '../../src/relabel/regex.js';
import { RelabelRule } from '../../src/relabel/rules.js';
import { bestOf } from '../lib/best-of.js';
import { TYPICAL_RULES_YAML } from '../lib/relabel-rules.js';
import { prepareRequests } from '../lib/requests.js';
import { generateSeries } from '../lib/series.js';

const SERIES = 10_000;
const BATCH = 2000;
const ROUNDS = 50;
const timing = { warmup: 20, repetitions: 7, rounds: ROUNDS };

const series = generateSeries({ count: SERIES, cluster: 'bench' });
const bodies = prepareRequests({ series, batch: BATCH, requests: SERIES / BATCH }).requests.map((r) => r.body);
const principal = createPrincipal('bench', 'tok_bench', ['bench']);
const target: RouteTarget = { name: 'sink', shards: 4, tenantLabel: undefined, acceptsNativeHistograms: false };
const config = parseConfigText(`${TYPICAL_RULES_YAML}backends:\n  - {name: sink, url: "http://127.0.0.1:1/api/v1/write"}\n`);
const stages = relabelStages(config);
const now = Date.now();

function pipeline(relabel: RelabelStages | undefined, cacheSize: number): WritePipeline {
  return new WritePipeline({
    clusterLabel: 'cluster',
    futureGraceMs: 600_000,
    maxDecodedBytes: 32 << 20,
    backends: [target],
    policyFor: () => ({ missing: 'inject', mismatch: 'reject' }),
    maxTrackedSeries: 0,
    ...(relabel === undefined ? {} : { relabel }),
    relabelCacheSize: cacheSize,
  });
}

function line(name: string, nsPer: number, unit: string): void {
  console.log(`${name.padEnd(52)} ${nsPer.toFixed(0).padStart(7)} ns/${unit}  ${(1e9 / nsPer / 1e3).toFixed(0).padStart(6)}k ${unit}s/s/core`);
}

function timePipeline(name: string, p: WritePipeline): void {
  const best = bestOf(timing, (i) => p.process(principal, bodies[i % bodies.length] as Buffer, now));
  line(name, best / (ROUNDS * BATCH), 'sample');
}

/** The same rules with each regex swapped for JavaScript's RegExp (what a translator would run at best). */
function withJsRegExp(rules: readonly RelabelRule[]): RelabelRule[] {
  return rules.map((rule) => {
    // The typical rules use only syntax both engines read alike; Prometheus anchors the whole regex.
    const re = new RegExp(`^(?:${rule.regex.source})$`, 'u');
    const regex = {
      source: rule.regex.source,
      groupCount: rule.regex.groupCount,
      groupNames: rule.regex.groupNames,
      matches: (text: string) => re.test(text),
      match: (text: string) => {
        const m = re.exec(text);
        return m === null ? null : Array.from(m);
      },
    } as unknown as RelabelRegex;
    return new RelabelRule({ ...rule, regex });
  });
}

console.log(`${SERIES} series, ${BATCH} samples per request, 10 relabel rules (bench/lib/relabel-rules.ts)`);
const probe = new TenantChain(stages, 'bench', 1, 'cluster');
let dropped = 0;
let changed = 0;
const inputs = series.map((s) => new Map(s.labels.map((l) => [l.name, l.value])));
for (const input of inputs) {
  const outcome = probe.run(input);
  if (outcome.droppedAt !== undefined) dropped++;
  else if (outcome.backends[0] !== 'unchanged') changed++;
}
console.log(`the rules drop ${((dropped / SERIES) * 100).toFixed(0)}% of the series and change ${((changed / SERIES) * 100).toFixed(0)}%\n`);

timePipeline('pipeline, no rules (fast path)', pipeline(undefined, 0));
timePipeline('pipeline, 10 rules, cache warm', pipeline(stages, 100_000));
timePipeline('pipeline, 10 rules, no cache (every series relabeled)', pipeline(stages, 0));

console.log('');
const jsStages: RelabelStages = { global: withJsRegExp(stages.global), tenants: new Map(), backends: [[]] };
for (const [name, s] of [
  ['rules alone, RE2 (re2 package)', stages],
  ['rules alone, JavaScript RegExp', jsStages],
] as const) {
  const chain = new TenantChain(s, 'bench', 1, 'cluster');
  const best = bestOf({ ...timing, rounds: 1 }, () => {
    for (const input of inputs) chain.run(input);
  });
  line(name, best / SERIES, 'series');
}
