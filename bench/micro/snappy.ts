/**
 * Micro-benchmark of snappy decompression, the largest single cost of the receive path:
 * snappyjs' `uncompress` (what tributary used) against tributary's own `snappyDecode`.
 *
 *   npm run build && node dist/bench/micro/snappy.js [--rounds 40] [--series 2000]
 *
 * Two inputs, each decoded many times after a warm-up:
 * - generated: one remote-write request of `--series` realistic series (the ingestion bench's
 *   node_exporter / cAdvisor / kube-state-metrics shapes, 9 to 12 labels each, one sample each),
 *   compressed by snappyjs;
 * - prometheus: the bodies Prometheus 2.42 sent in test/fixtures (compressed by Go's snappy),
 *   joined into one block of about as many series.
 * Each round times a batch of calls of each decoder in turn, so both see the same machine noise;
 * the table shows the best and the median round. The best is the figure to compare: on a busy
 * machine the median drifts with what else is running.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { uncompress } from 'snappyjs';
import { countWriteRequest } from '../lib/pbcount.js';
import { prepareRequests } from '../lib/requests.js';
import { generateSeries } from '../lib/series.js';
import { concatSnappyBlocks } from '../../src/wire/snappy.js';
import { snappyDecode } from '../../src/wire/snappy-decode.js';

interface Input {
  readonly name: string;
  readonly body: Buffer;
  readonly rawBytes: number;
  readonly series: number;
}

function generatedInput(seriesCount: number): Input {
  const series = generateSeries({ count: seriesCount, cluster: 'bench' });
  const set = prepareRequests({ series, batch: seriesCount, requests: 1 });
  const req = set.requests[0]!;
  return { name: 'generated', body: req.body, rawBytes: req.rawBytes, series: req.series };
}

function fixtureDir(): URL | undefined {
  // dist/bench/micro/ when built, bench/micro/ when run from source.
  for (const up of ['../../../', '../../']) {
    const dir = new URL(`${up}test/fixtures/prometheus-2.42-agent/`, import.meta.url);
    if (existsSync(dir)) return dir;
  }
  return undefined;
}

function prometheusInput(minSeries: number): Input | undefined {
  const dir = fixtureDir();
  if (dir === undefined) return undefined;
  const bodies = readdirSync(dir)
    .filter((f) => f.endsWith('.bin'))
    .sort()
    .map((f) => readFileSync(new URL(f, dir)))
    .filter((b) => countWriteRequest(Buffer.from(uncompress(b))).series > 0);
  if (bodies.length === 0) return undefined;
  const blocks: Buffer[] = [];
  let series = 0;
  while (series < minSeries) {
    for (const b of bodies) {
      blocks.push(b);
      series += countWriteRequest(Buffer.from(uncompress(b))).series;
    }
  }
  const body = concatSnappyBlocks(blocks);
  return { name: 'prometheus', body, rawBytes: uncompress(body).length, series };
}

type Decoder = (body: Buffer) => Uint8Array;

function timeBatch(decode: Decoder, body: Buffer, calls: number): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) decode(body);
  return Number(process.hrtime.bigint() - t0) / calls;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function main(): void {
  const { values } = parseArgs({
    options: { rounds: { type: 'string', default: '40' }, series: { type: 'string', default: '2000' } },
  });
  const rounds = Number(values.rounds);
  const seriesCount = Number(values.series);
  const decoders: [string, Decoder][] = [
    ['snappyjs.uncompress', (b) => uncompress(b)],
    ['snappyDecode', (b) => snappyDecode(b, 1 << 30)],
  ];
  const inputs = [generatedInput(seriesCount), prometheusInput(seriesCount)].filter((x): x is Input => x !== undefined);

  console.log(`node ${process.version}, ${rounds} rounds per decoder and input\n`);
  console.log('input        series  raw bytes  compressed  decoder               best MB/s  best ns/series  median MB/s  median ns/series');
  for (const input of inputs) {
    const expected = Buffer.from(uncompress(input.body));
    if (expected.length !== input.rawBytes) throw new Error(`${input.name}: decoded size mismatch`);
    for (const [name, decode] of decoders) {
      if (!Buffer.from(decode(input.body)).equals(expected)) throw new Error(`${name} decodes ${input.name} wrongly`);
    }
    // About 20 ms per batch whatever the input size.
    const calls = Math.max(5, Math.round(20e6 / (input.rawBytes * 2)));
    for (const [, decode] of decoders) for (let i = 0; i < 5 * calls; i++) decode(input.body);
    const times = decoders.map(() => [] as number[]);
    for (let r = 0; r < rounds; r++) {
      decoders.forEach(([, decode], d) => {
        times[d]!.push(timeBatch(decode, input.body, calls));
      });
    }
    decoders.forEach(([name], d) => {
      const best = Math.min(...times[d]!);
      const med = median(times[d]!);
      console.log(
        [
          input.name.padEnd(11),
          String(input.series).padStart(7),
          String(input.rawBytes).padStart(10),
          String(input.body.length).padStart(11),
          ` ${name.padEnd(20)}`,
          ((input.rawBytes / best) * 1000).toFixed(0).padStart(10),
          (best / input.series).toFixed(0).padStart(15),
          ((input.rawBytes / med) * 1000).toFixed(0).padStart(12),
          (med / input.series).toFixed(0).padStart(17),
        ].join('  '),
      );
    });
    const [base, ours] = times.map((t) => Math.min(...t));
    console.log(`${' '.repeat(44)}snappyDecode is ${(base! / ours!).toFixed(1)}x as fast (best rounds)\n`);
  }
}

main();
