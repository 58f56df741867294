import { compress, uncompress } from 'snappyjs';
import { describe, expect, it } from 'vitest';
import { prepareRequests } from '../../../bench/lib/requests.js';
import { SendSchedule } from '../../../bench/lib/schedule.js';
import { generateSeries, renderLabels } from '../../../bench/lib/series.js';
import { findTimestampFields, type PatchPlan, patchTimestamps, planTimestampPatch, varintLength, writeVarint } from '../../../bench/lib/tspatch.js';
import { snappyDecode } from '../../../src/wire/snappy-decode.js';
import { reference } from '../../support/reference-codec.js';

const CLUSTER = 'bench-eu-west-1';
const NOW = 1_760_000_000_000;

/** A hand-made snappy block: `parts` are literals (byte arrays) and copies ([offset, length], length <= 64). */
function snappyBlock(rawLength: number, parts: (Uint8Array | [number, number])[]): Buffer {
  const out: number[] = [];
  writeVarintTo(out, rawLength);
  for (const p of parts) {
    if (p instanceof Uint8Array) {
      for (let at = 0; at < p.length; at += 60) {
        const chunk = p.subarray(at, at + 60);
        out.push((chunk.length - 1) << 2, ...chunk);
      }
    } else {
      const [off, len] = p;
      out.push(2 | ((len - 1) << 2), off & 0xff, off >>> 8);
    }
  }
  return Buffer.from(out);
}

function writeVarintTo(out: number[], value: number): void {
  const b = new Uint8Array(10);
  out.push(...b.subarray(0, writeVarint(b, 0, value)));
}

function plan(body: Uint8Array, raw?: Uint8Array): PatchPlan {
  const p = planTimestampPatch(body, raw);
  if (!p.ok) throw new Error(p.reason);
  return p.plan;
}

/** Timestamps of a compressed request as the reference codec decodes it, after the strict decoder accepted it. */
function timestamps(body: Uint8Array): number[] {
  const raw = uncompress(body);
  expect(Buffer.from(snappyDecode(body, 64 << 20)).equals(Buffer.from(raw))).toBe(true);
  return reference.decode(raw).timeseries.flatMap((ts) => ts.samples.map((s) => Number(s.timestamp)));
}

/** The varint bytes of '€éx' (e2 82 ac c3 a9 78) read as a timestamp: a label value can hold the same bytes. */
const LOOKALIKE = Buffer.from('€éx', 'utf8');
const LOOKALIKE_TS = [...LOOKALIKE].reduce((t, b, i) => t + (b & 0x7f) * 128 ** i, 0);

describe('varints', () => {
  it('writes 6-byte varints for ms timestamps from 1971 to 2109', () => {
    expect(varintLength(NOW)).toBe(6);
    expect(varintLength(2 ** 35)).toBe(6);
    expect(varintLength(2 ** 35 - 1)).toBe(5);
    expect(varintLength(2 ** 42 - 1)).toBe(6);
    expect(varintLength(2 ** 42)).toBe(7);
    const b = new Uint8Array(10);
    expect(writeVarint(b, 0, LOOKALIKE_TS)).toBe(6);
    expect(Buffer.from(b.subarray(0, 6)).equals(LOOKALIKE)).toBe(true);
  });
});

describe('timestamp patch plan', () => {
  const series = generateSeries({ count: 1500, cluster: CLUSTER });

  it('finds every sample timestamp of a protobuf WriteRequest', () => {
    const raw = reference.encode({
      timeseries: [
        { labels: [{ name: '__name__', value: 'a' }], samples: [{ value: 1, timestamp: NOW }, { value: 2, timestamp: NOW + 1 }] },
        { labels: [{ name: '__name__', value: 'b' }], samples: [{ value: 3, timestamp: 5 }] },
      ],
    });
    expect(findTimestampFields(raw).map((f) => [f.value, f.length])).toEqual([
      [NOW, 6],
      [NOW + 1, 6],
      [5, 1],
    ]);
  });

  it('patches snappyjs-compressed bench requests so they decode to the shifted timestamps and nothing else changes', () => {
    const set = prepareRequests({ series, batch: 500, intervalMs: 1, endMs: NOW, freshTimestamps: true });
    expect(set.requests).toHaveLength(18);
    expect(set.reencoded).toBe(0);
    for (const req of set.requests) {
      const p = req.patch as PatchPlan;
      expect(p.values).toEqual([set.firstTimestampMs + req.scrape]);
      expect(p.timestampFields).toBe(req.samples);
      // Far fewer bytes to write than timestamps: most are copies of an earlier one.
      expect(p.offsets.length).toBeLessThan(req.samples);
      const original = reference.decode(uncompress(req.body));
      for (const delta of [6, 12, 86_400_000 + 777]) {
        patchTimestamps(req.body, p, delta);
        const decoded = reference.decode(uncompress(req.body));
        expect(decoded.timeseries.map((ts) => renderLabels(ts.labels))).toEqual(original.timeseries.map((ts) => renderLabels(ts.labels)));
        expect(decoded.timeseries.map((ts) => ts.samples.map((s) => s.value))).toEqual(original.timeseries.map((ts) => ts.samples.map((s) => s.value)));
        expect(new Set(timestamps(req.body))).toEqual(new Set([set.firstTimestampMs + req.scrape + delta]));
      }
      patchTimestamps(req.body, p, 0);
      expect(new Set(timestamps(req.body))).toEqual(new Set([set.firstTimestampMs + req.scrape]));
    }
  });

  it('refuses a patch that would change the varint length', () => {
    const set = prepareRequests({ series: series.slice(0, 10), batch: 10, requests: 1, intervalMs: 1, endMs: NOW, freshTimestamps: true });
    const req = set.requests[0]!;
    const before = Buffer.from(req.body);
    expect(() => patchTimestamps(req.body, req.patch!, 2 ** 42)).toThrow(/6-byte varint/);
    expect(req.body.equals(before)).toBe(true);
  });

  it('propagates a patched literal through copies of whole timestamps', () => {
    // Two series with the same sample: the second series' sample is a copy of the first one's.
    const raw = reference.encode({
      timeseries: [
        { labels: [{ name: '__name__', value: 'up' }, { name: 'job', value: 'a' }], samples: [{ value: 1, timestamp: NOW }] },
        { labels: [{ name: '__name__', value: 'up' }, { name: 'job', value: 'b' }], samples: [{ value: 1, timestamp: NOW }] },
      ],
    });
    const [first, second] = findTimestampFields(raw);
    // Sample message: tag, length, 9 bytes of double, tag, 6 bytes of timestamp.
    const sampleLen = 2 + 9 + 1 + 6;
    const s1 = first!.offset + 6 - sampleLen;
    const s2 = second!.offset + 6 - sampleLen;
    const body = snappyBlock(raw.length, [raw.subarray(0, s2), [s2 - s1, sampleLen], raw.subarray(s2 + sampleLen)]);
    expect(Buffer.from(uncompress(body)).equals(raw)).toBe(true);
    const p = plan(body, raw);
    expect(p.offsets).toHaveLength(6);
    expect(p.timestampFields).toBe(2);
    patchTimestamps(body, p, 15_000);
    expect(timestamps(body)).toEqual([NOW + 15_000, NOW + 15_000]);
  });

  it('detects a timestamp copied from label bytes that only happen to match (hand-made stream)', () => {
    const raw = reference.encode({
      timeseries: [{ labels: [{ name: '__name__', value: 'up' }, { name: 'x', value: LOOKALIKE.toString('utf8') }], samples: [{ value: 1, timestamp: LOOKALIKE_TS }] }],
    });
    const label = raw.indexOf(LOOKALIKE);
    const [ts] = findTimestampFields(raw);
    expect(ts!.offset).toBeGreaterThan(label);
    const body = snappyBlock(raw.length, [raw.subarray(0, ts!.offset), [ts!.offset - label, 6], raw.subarray(ts!.offset + 6)]);
    expect(Buffer.from(uncompress(body)).equals(raw)).toBe(true);
    const result = planTimestampPatch(body, raw);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toBe(`output byte ${ts!.offset} (byte 0 of timestamp ${LOOKALIKE_TS}) is a copy of output byte ${label} (a non-timestamp byte), a coincidental match`);
  });

  it('detects label bytes copied from a timestamp (patching it would corrupt the label)', () => {
    const raw = reference.encode({
      timeseries: [
        { labels: [{ name: '__name__', value: 'up' }], samples: [{ value: 1, timestamp: LOOKALIKE_TS }] },
        { labels: [{ name: '__name__', value: 'up' }, { name: 'x', value: LOOKALIKE.toString('utf8') }], samples: [{ value: 1, timestamp: NOW }] },
      ],
    });
    const [ts] = findTimestampFields(raw);
    const label = raw.indexOf(LOOKALIKE, ts!.offset + 6);
    const body = snappyBlock(raw.length, [raw.subarray(0, label), [label - ts!.offset, 6], raw.subarray(label + 6)]);
    expect(Buffer.from(uncompress(body)).equals(raw)).toBe(true);
    const result = planTimestampPatch(body, raw);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toContain(`output byte ${label} (a non-timestamp byte) is a copy of output byte ${ts!.offset} (byte 0 of timestamp ${LOOKALIKE_TS})`);
  });

  it('detects the coincidental match snappyjs itself makes between label bytes and a timestamp', () => {
    const raw = reference.encode({
      timeseries: [
        { labels: [{ name: '__name__', value: 'up' }, { name: 'x', value: LOOKALIKE.toString('utf8') }], samples: [{ value: 1, timestamp: LOOKALIKE_TS }] },
        { labels: [{ name: '__name__', value: 'up' }, { name: 'y', value: LOOKALIKE.toString('utf8') }], samples: [{ value: 2, timestamp: LOOKALIKE_TS }] },
      ],
    });
    const result = planTimestampPatch(compress(raw), raw);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(/coincidental match/);
  });

  it('detects a timestamp byte copied from another timestamp value', () => {
    // Two timestamps 1 ms apart share their upper 5 bytes; copying those from the other one would
    // break as soon as a patch carries into them for one timestamp and not the other.
    const raw = reference.encode({
      timeseries: [
        { labels: [{ name: '__name__', value: 'a' }], samples: [{ value: 1, timestamp: NOW }] },
        { labels: [{ name: '__name__', value: 'b' }], samples: [{ value: 1, timestamp: NOW + 1 }] },
      ],
    });
    const [t1, t2] = findTimestampFields(raw);
    const body = snappyBlock(raw.length, [raw.subarray(0, t2!.offset + 1), [t2!.offset - t1!.offset, 5], raw.subarray(t2!.offset + 6)]);
    expect(Buffer.from(uncompress(body)).equals(raw)).toBe(true);
    const result = planTimestampPatch(body, raw);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toContain(`(byte 1 of timestamp ${NOW + 1}) is a copy of output byte ${t1!.offset + 1} (byte 1 of timestamp ${NOW})`);
  });
});

describe('send schedule', () => {
  const series = generateSeries({ count: 900, cluster: CLUSTER });
  // 3 requests per scrape (300 series each), 6 scrapes.
  const fresh = () => prepareRequests({ series, batch: 300, requests: 18, intervalMs: 1, endMs: NOW - 60_000, freshTimestamps: true });

  it('allows as many requests in flight as there are disjoint series groups', () => {
    const set = fresh();
    const schedule = new SendSchedule(set, { fresh: true, now: () => NOW });
    expect(schedule.maxParallel).toBe(3);
    expect(schedule.conflicts[0]).toEqual([0, 3, 6, 9, 12, 15]);
    const seven = new SendSchedule(prepareRequests({ series: series.slice(0, 700), batch: 300, requests: 6 }), { fresh: false });
    // Groups of 300, 300, 100 series.
    expect(seven.maxParallel).toBe(3);
  });

  it('sends every series with strictly newer timestamps, near the clock, and never two sends of a series at once', async () => {
    const set = fresh();
    let clock = NOW;
    const schedule = new SendSchedule(set, { fresh: true, lagMs: 1000, now: () => clock });
    const last = new Map<string, number>();
    const inFlight = new Set<number>();
    let maxInFlight = 0;
    let sends = 0;
    const sender = async (seed: number): Promise<void> => {
      for (let k = 0; k < 30; k++) {
        const slot = await schedule.acquire();
        // What the target would see, checked as it is sent.
        const raw = uncompress(slot.request.body);
        const decoded = reference.decode(raw);
        for (const ts of decoded.timeseries) {
          const key = renderLabels(ts.labels);
          const t = Number(ts.samples[0]!.timestamp);
          expect(t).toBeGreaterThan(last.get(key) ?? 0);
          expect(t).toBeLessThanOrEqual(clock);
          last.set(key, t);
        }
        let overlap = 0;
        for (let s = slot.request.seriesFrom; s < slot.request.seriesTo; s++) {
          if (inFlight.has(s)) overlap++;
          inFlight.add(s);
        }
        expect(overlap).toBe(0);
        maxInFlight = Math.max(maxInFlight, inFlight.size / 300);
        await new Promise((r) => setTimeout(r, (seed * 7 + k * 3) % 5));
        clock += 1;
        for (let s = slot.request.seriesFrom; s < slot.request.seriesTo; s++) inFlight.delete(s);
        sends++;
        slot.release();
      }
    };
    await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map(sender));
    expect(sends).toBe(240);
    expect(last.size).toBe(900);
    expect(maxInFlight).toBe(3);
    expect(schedule.gatedSends).toBeGreaterThan(0);
    expect(schedule.aheadMs).toBeLessThanOrEqual(0);
    // 240 sends are 13 and a bit cycles: every series was sent 80 times.
    expect(schedule.sent).toBe(240);
  });
});
