/**
 * The high-water-mark building blocks: the 64-bit key hash, the bounded two-generation table, a
 * request's marks and their commit, and the encoder's increasing-timestamp filters they rely on.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WireBatch } from '../../../src/model/batch.js';
import { HighWaterMarks, hashBytes64, MarkUpdate, RequestMarks, SeriesKey, tenantSeed } from '../../../src/policy/high-water-mark.js';
import { decodeWriteRequest } from '../../../src/wire/rw1-decode.js';
import { WriteRequestEncoder } from '../../../src/wire/rw1-encode.js';
import { reference } from '../../support/reference-codec.js';

const NONE = Number.NEGATIVE_INFINITY;

function hashOf(bytes: Uint8Array, seedLo = 0, seedHi = 0, from = 0, to = bytes.length): [number, number] {
  const key = new SeriesKey();
  hashBytes64(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), bytes, from, to, seedLo, seedHi, key);
  return [key.lo, key.hi];
}

const keyString = ([lo, hi]: [number, number]) => `${lo}:${hi}`;

describe('key hash', () => {
  it('gives the known answers (a change of the function must be deliberate)', () => {
    expect(hashOf(Buffer.from(''))).toEqual([-63723639, -1937088666]);
    expect(hashOf(Buffer.from('a'))).toEqual([663025570, 2118014176]);
    expect(hashOf(Buffer.from('abcd'))).toEqual([662334947, -650626486]);
    expect(hashOf(Buffer.from('hello, world'), 1, 2)).toEqual([870575756, -165406795]);
    expect(hashOf(Buffer.from('x'.repeat(100)), 7, 9)).toEqual([-20913165, -31116521]);
    const seed = tenantSeed('team-a');
    expect([seed.lo, seed.hi]).toEqual([-778328080, -1773053154]);
  });

  it('depends on the bytes only, not on where they lie (every alignment, inside a larger buffer)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 0, max: 15 }), fc.integer({ min: 0, max: 15 }), (bytes, before, after) => {
        const big = new Uint8Array(before + bytes.length + after).fill(0xa5);
        big.set(bytes, before);
        expect(hashOf(big, 3, 4, before, before + bytes.length)).toEqual(hashOf(Uint8Array.from(bytes), 3, 4));
      }),
      { numRuns: 500 },
    );
  });

  it('never returns the empty-slot key (0, 0)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer(), fc.integer(), (bytes, a, b) => {
        const [lo, hi] = hashOf(bytes, a, b);
        expect(lo !== 0 || hi !== 0).toBe(true);
      }),
    );
  });

  it('changes both halves when any one bit of the input or the seed changes', () => {
    const base = Buffer.from('{__name__="node_cpu_seconds_total", cluster="eu-1", cpu="3", instance="10.0.0.1:9100", mode="idle"}');
    const [lo0, hi0] = hashOf(base, 11, 12);
    let loSame = 0;
    let hiSame = 0;
    for (let byte = 0; byte < base.length; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        const flipped = Buffer.from(base);
        flipped[byte] = (flipped[byte] as number) ^ (1 << bit);
        const [lo, hi] = hashOf(flipped, 11, 12);
        if (lo === lo0) loSame++;
        if (hi === hi0) hiSame++;
      }
    }
    expect(loSame).toBe(0);
    expect(hiSame).toBe(0);
    expect(hashOf(base, 11, 13)).not.toEqual([lo0, hi0]);
    expect(hashOf(base, 12, 12)).not.toEqual([lo0, hi0]);
  });

  it('tells apart inputs that differ only in length (trailing zero bytes)', () => {
    const keys = new Set<string>();
    for (let n = 0; n < 40; n++) keys.add(keyString(hashOf(new Uint8Array(n))));
    expect(keys.size).toBe(40);
  });

  it('has no collision among 300,000 realistic, similar label sets', () => {
    const keys = new Set<string>();
    const seed = tenantSeed('team-a');
    let n = 0;
    for (let node = 0; node < 1000; node++) {
      for (let cpu = 0; cpu < 30; cpu++) {
        for (const mode of ['idle', 'iowait', 'irq', 'nice', 'softirq', 'steal', 'system', 'user', 'guest', 'guest_nice']) {
          const text = `__name__node_cpu_seconds_total\x12\x07cluster\x12\x04eu-1cpu\x12${cpu}instance10.0.${node >> 8}.${node & 255}:9100jobnode-exportermode${mode}`;
          keys.add(keyString(hashOf(Buffer.from(text), seed.lo, seed.hi)));
          n++;
        }
      }
    }
    expect(keys.size).toBe(n);
  });

  it('has no collision when two words 16 bytes apart vary (they meet in the same lane)', () => {
    // With four independent 32-bit lanes, such pairs would collide with probability 2^-32 each:
    // about 28 collisions expected among these 490,000 inputs. The neighbour term prevents it.
    const keys = new Set<string>();
    const bytes = Buffer.alloc(48, 0x61);
    for (let p = 0; p < 700; p++) {
      bytes.writeUInt32LE(Math.imul(p, 0x01000193) >>> 0, 0);
      for (let q = 0; q < 700; q++) {
        bytes.writeUInt32LE(Math.imul(q, 0x2545f491) >>> 0, 16);
        keys.add(keyString(hashOf(bytes, 1, 2)));
      }
    }
    expect(keys.size).toBe(700 * 700);
  });

  it('gives each tenant its own keys for the same series', () => {
    const bytes = Buffer.from('__name__up');
    const a = tenantSeed('team-a');
    const b = tenantSeed('team-b');
    expect(hashOf(bytes, a.lo, a.hi)).not.toEqual(hashOf(bytes, b.lo, b.hi));
  });
});

describe('high-water mark table', () => {
  it('knows nothing at first, then keeps the highest mark recorded', () => {
    const table = new HighWaterMarks(1000);
    expect(table.get(1, 2)).toBe(NONE);
    table.record(1, 2, 100);
    expect(table.get(1, 2)).toBe(100);
    table.record(1, 2, 50);
    expect(table.get(1, 2)).toBe(100);
    table.record(1, 2, 101);
    expect(table.get(1, 2)).toBe(101);
    // Same lo, other hi: another key.
    expect(table.get(1, 3)).toBe(NONE);
    table.record(1, 3, -5);
    expect(table.get(1, 3)).toBe(-5);
    expect(table.get(1, 2)).toBe(101);
    expect(table.size).toBe(2);
  });

  it('moves keys to a doubled table a few slots per record, never all at once, and loses none', () => {
    const table = new HighWaterMarks(1000, { initialSlots: 64 });
    for (let k = 1; k <= 44; k++) table.record(Math.imul(k, 0x9e3779b1), k, k);
    expect(table.moving).toBe(false);
    table.record(Math.imul(45, 0x9e3779b1), 45, 45);
    expect(table.moving).toBe(true);
    // The 44 old keys are found while they move, through the old table.
    for (let k = 1; k <= 45; k++) expect(table.get(Math.imul(k, 0x9e3779b1), k)).toBe(k);
    // 64 old slots at 8 per record: moved after 8 more records.
    for (let r = 0; r < 8; r++) table.record(1, 1, 1);
    expect(table.moving).toBe(false);
    for (let k = 1; k <= 45; k++) expect(table.get(Math.imul(k, 0x9e3779b1), k)).toBe(k);
  });

  it('starts small and grows to its bound, never past it', () => {
    const table = new HighWaterMarks(100_000);
    const start = table.allocatedBytes;
    expect(start).toBeLessThanOrEqual(1024 * 16);
    for (let k = 1; k <= 50_000; k++) table.record(Math.imul(k, 0x9e3779b1), k, k);
    let wrong = 0;
    for (let k = 1; k <= 50_000; k++) if (table.get(Math.imul(k, 0x9e3779b1), k) !== k) wrong++;
    expect(wrong).toBe(0);
    expect(table.size).toBeGreaterThanOrEqual(50_000);
    expect(table.size).toBeLessThanOrEqual(table.capacity);
    expect(table.rotations).toBe(0);
    expect(table.allocatedBytes).toBeGreaterThan(start);
    expect(table.allocatedBytes).toBeLessThanOrEqual(2 * table.maxSlots * 16);
  });

  it('rotates when a generation is full: old keys stay until the next rotation, active keys move forward', () => {
    const table = new HighWaterMarks(1000);
    for (let k = 1; k <= 1000; k++) table.record(k, 0, k);
    expect(table.rotations).toBe(0);
    table.record(1001, 0, 1001);
    expect(table.rotations).toBe(1);
    // Still found, in the previous generation.
    expect(table.get(1, 0)).toBe(1);
    expect(table.get(1000, 0)).toBe(1000);
    // Key 1 is active: recorded again, it moves to the current generation (keeping the higher mark).
    table.record(1, 0, 0);
    expect(table.get(1, 0)).toBe(1);
    for (let k = 1002; k <= 2000; k++) table.record(k, 0, k);
    expect(table.rotations).toBe(2);
    expect(table.get(1, 0)).toBe(1);
    expect(table.get(2, 0)).toBe(NONE);
    expect(table.get(999, 0)).toBe(NONE);
    expect(table.get(1500, 0)).toBe(1500);
    expect(table.size).toBeLessThanOrEqual(table.capacity);
    expect(table.allocatedBytes).toBe(2 * table.maxSlots * 16);
  });

  it('never forgets a series while fewer than maxSeries others were recorded since it, and stays bounded (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        // Tiny first tables: doublings, keys moving between tables, rotations, all interleaved.
        fc.constantFrom(undefined, 2, 3, 5),
        fc.array(fc.tuple(fc.integer({ min: 1, max: 80 }), fc.integer({ min: -5, max: 50 })), { maxLength: 400 }),
        (maxSeries, initialSlots, ops) => {
          const table = new HighWaterMarks(maxSeries, initialSlots === undefined ? {} : { initialSlots });
          const last = new Map<number, number>();
          const highest = new Map<number, number>();
          /** Keys recorded since each key's last record. */
          const since = new Map<number, Set<number>>();
          for (const [k, mark] of ops) {
            table.record(k, 7, mark);
            for (const [other, set] of since) if (other !== k) set.add(k);
            since.set(k, new Set());
            last.set(k, mark);
            highest.set(k, Math.max(highest.get(k) ?? NONE, mark));
            expect(table.size).toBeLessThanOrEqual(table.capacity);
            expect(table.allocatedBytes).toBeLessThanOrEqual(2 * table.maxSlots * 16);
          }
          for (const [k, set] of since) {
            const got = table.get(k, 7);
            // A mark is never invented: at most the highest recorded for the key.
            if (got !== NONE) expect(got).toBeLessThanOrEqual(highest.get(k) as number);
            if (set.size < maxSeries) {
              expect(got).not.toBe(NONE);
              expect(got).toBeGreaterThanOrEqual(last.get(k) as number);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses sizes it cannot hold', () => {
    expect(() => new HighWaterMarks(0)).toThrow(RangeError);
    expect(() => new HighWaterMarks(1.5)).toThrow(RangeError);
    expect(() => new HighWaterMarks(200_000_000)).toThrow(/too large/);
  });

  it('clear() forgets everything', () => {
    const table = new HighWaterMarks(1000);
    table.record(5, 5, 5);
    table.clear();
    expect(table.get(5, 5)).toBe(NONE);
    expect(table.size).toBe(0);
  });
});

describe('request marks and their commit', () => {
  it('sees, for a key repeated within a request, what its earlier entries kept; commits the highest', () => {
    const table = new HighWaterMarks(1000);
    table.record(9, 9, 100);
    const marks = new RequestMarks(table);
    marks.reset(4);
    const e1 = marks.entry(9, 9);
    expect(marks.mark(e1)).toBe(100);
    marks.setMark(e1, 120);
    const e2 = marks.entry(9, 9);
    expect(e2).toBe(e1);
    expect(marks.mark(e2)).toBe(120);
    const f = marks.entry(8, 8);
    expect(marks.mark(f)).toBe(NONE);
    const update = marks.take();
    expect(update.size).toBe(2);
    expect(update.markOf(9, 9)).toBe(120);
    // Key 8 kept nothing: it raises no mark.
    expect(update.markOf(8, 8)).toBeUndefined();
    // Nothing changes before the commit.
    expect(table.get(9, 9)).toBe(100);
    update.commit();
    expect(table.get(9, 9)).toBe(120);
    expect(table.get(8, 8)).toBe(NONE);
    expect(update.committed).toBe(true);
  });

  it('commits once, and only raises (commits in any order agree)', () => {
    const table = new HighWaterMarks(1000);
    const marks = new RequestMarks(table);
    marks.reset(1);
    marks.setMark(marks.entry(1, 1), 50);
    const first = marks.take();
    marks.reset(1);
    marks.setMark(marks.entry(1, 1), 40);
    const second = marks.take();
    second.commit();
    first.commit();
    second.commit();
    expect(table.get(1, 1)).toBe(50);
  });

  it('an update never committed (the queue append failed) leaves the table as it was', () => {
    const table = new HighWaterMarks(1000);
    const marks = new RequestMarks(table);
    marks.reset(1);
    marks.setMark(marks.entry(3, 3), 70);
    marks.take();
    marks.reset(1);
    const retry = marks.entry(3, 3);
    expect(marks.mark(retry)).toBe(NONE);
  });

  it('stays correct when the table grew or rotated between lookup and commit (slot hints expire)', () => {
    const table = new HighWaterMarks(50);
    table.record(1, 1, 10);
    table.record(2, 2, 20);
    const marks = new RequestMarks(table);
    marks.reset(2);
    marks.setMark(marks.entry(1, 1), 11);
    marks.setMark(marks.entry(2, 2), 21);
    const update = marks.take();
    // Other requests commit meanwhile: the first generation grows, then rotates.
    for (let k = 100; k < 160; k++) table.record(k, k, k);
    expect(table.rotations).toBe(1);
    update.commit();
    expect(table.get(1, 1)).toBe(11);
    expect(table.get(2, 2)).toBe(21);
    for (let k = 100; k < 160; k++) expect(table.get(k, k)).toBe(k);
  });

  it('an empty request gives the shared empty update', () => {
    const marks = new RequestMarks(new HighWaterMarks(1000));
    marks.reset(0);
    expect(marks.take()).toBe(MarkUpdate.EMPTY);
    MarkUpdate.EMPTY.commit();
    expect(MarkUpdate.EMPTY.committed).toBe(true);
  });

  it('handles requests larger than its scratch, and reuses arrays of committed updates', () => {
    const table = new HighWaterMarks(100_000);
    const marks = new RequestMarks(table);
    for (const n of [10, 5000, 3, 20_000, 700]) {
      marks.reset(n);
      for (let k = 0; k < n; k++) marks.setMark(marks.entry(k + 1, n), n);
      marks.take().commit();
      let wrong = 0;
      for (let k = 0; k < n; k++) if (table.get(k + 1, n) !== n) wrong++;
      expect(wrong).toBe(0);
    }
  });
});

describe('encoder: increasing-timestamp filters', () => {
  function batchOf(timestamps: number[], histogramTimestamps: number[] = []): WireBatch {
    const batch = new WireBatch();
    decodeWriteRequest(
      reference.encode({
        timeseries: [
          {
            labels: [{ name: '__name__', value: 'x' }],
            samples: timestamps.map((t, i) => ({ value: i, timestamp: t })),
            histograms: histogramTimestamps.map((t) => ({ count_int: 1, sum: 1, timestamp: t })),
          },
        ],
      }),
      batch,
    );
    return batch;
  }

  function kept(build: (enc: WriteRequestEncoder, batch: WireBatch) => number, batch: WireBatch): { mark: number; samples: number[]; histograms: number[] } {
    const enc = new WriteRequestEncoder();
    enc.reset();
    enc.beginSeries();
    enc.addBatchLabel(batch, 0);
    const mark = build(enc, batch);
    enc.endSeries();
    const out = reference.decode(enc.finish());
    const ts = out.timeseries[0];
    return { mark, samples: ts?.samples.map((s) => Number(s.timestamp)) ?? [], histograms: ts?.histograms.map((h) => Number(h.timestamp)) ?? [] };
  }

  it('keeps, in wire order, each sample newer than the mark and every sample kept before it', () => {
    const batch = batchOf([10, 30, 20, 30, 40, 50]);
    expect(kept((e, b) => e.addIncreasingSamples(b, 0, 15, Infinity), batch)).toEqual({ mark: 50, samples: [30, 40, 50], histograms: [] });
    expect(kept((e, b) => e.addIncreasingSamples(b, 0, NONE, 45), batch)).toEqual({ mark: 40, samples: [10, 30, 40], histograms: [] });
    expect(kept((e, b) => e.addIncreasingSamples(b, 0, 50, Infinity), batch)).toEqual({ mark: 50, samples: [], histograms: [] });
  });

  it('equals addSamples for ascending samples and no mark', () => {
    const batch = batchOf([1, 2, 3, 5, 8]);
    const a = new WriteRequestEncoder();
    a.reset();
    a.beginSeries();
    a.addSamples(batch, 0, 4);
    a.endSeries();
    const b = new WriteRequestEncoder();
    b.reset();
    b.beginSeries();
    b.addIncreasingSamples(batch, 0, NONE, 4);
    b.endSeries();
    expect(Buffer.from(b.finish())).toEqual(Buffer.from(a.finish()));
  });

  it('filters histograms the same way, continuing from the samples mark', () => {
    const batch = batchOf([100], [90, 110, 105, 120]);
    const result = kept((e, b) => e.addIncreasingHistograms(b, 0, e.addIncreasingSamples(b, 0, NONE, Infinity)), batch);
    expect(result).toEqual({ mark: 120, samples: [100], histograms: [110, 120] });
  });
});
