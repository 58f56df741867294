import { describe, expect, it } from 'vitest';
import { copyBytes, GrowableBuffer } from '../../src/wire/growable-buffer.js';

describe('GrowableBuffer', () => {
  it('appends bytes, varints and spans in order', () => {
    const out = new GrowableBuffer(0);
    out.pushByte(0x0a);
    out.pushUvarint(300);
    out.pushBytes(Buffer.from('xhelloy'), 1, 6);
    expect(out.view().toString('hex')).toBe(`0aac02${Buffer.from('hello').toString('hex')}`);
    expect(out.length).toBe(8);
  });

  it.each([
    { name: 'short spans (copied byte by byte)', spanBytes: 7 },
    { name: 'long spans (copied natively)', spanBytes: 1000 },
  ])('doubles its capacity as needed and keeps the content, for $name', ({ spanBytes }) => {
    const out = new GrowableBuffer(256);
    const span = Buffer.alloc(spanBytes, 0);
    const expected: Buffer[] = [];
    for (let i = 0; i < 200; i++) {
      span.fill(i & 0xff);
      out.pushBytes(span, 0, spanBytes);
      expected.push(Buffer.from(span));
    }
    expect(out.view().equals(Buffer.concat(expected))).toBe(true);
    const capacity = out.capacityBytes;
    expect(capacity).toBeGreaterThanOrEqual(200 * spanBytes);
    expect(capacity & (capacity - 1)).toBe(0); // 256 doubled: a power of two
  });

  it('keeps its capacity across reset() and starts empty', () => {
    const out = new GrowableBuffer(256);
    out.pushBytes(Buffer.alloc(5000, 1), 0, 5000);
    const capacity = out.capacityBytes;
    out.reset();
    expect(out.length).toBe(0);
    expect(out.view().length).toBe(0);
    out.pushByte(7);
    expect(out.capacityBytes).toBe(capacity);
    expect([...out.view()]).toEqual([7]);
  });

  it('lets a writer fill its bytes directly after ensureSpare()', () => {
    const out = new GrowableBuffer(256);
    out.pushByte(1);
    out.ensureSpare(1000);
    const target = out.bytes;
    let at = out.length;
    for (let i = 0; i < 1000; i++) target[at++] = i & 0xff;
    out.length = at;
    expect(out.view().length).toBe(1001);
    expect(out.view()[1000]).toBe(999 & 0xff);
  });
});

describe('copyBytes', () => {
  it.each([0, 1, 32, 33, 500])('copies a span of %d bytes and returns the position after it', (count) => {
    const source = Buffer.from(Array.from({ length: count + 10 }, (_, i) => i & 0xff));
    const target = Buffer.alloc(count + 20, 0xee);
    expect(copyBytes(target, 7, source, 5, 5 + count)).toBe(7 + count);
    expect(target.subarray(7, 7 + count).equals(source.subarray(5, 5 + count))).toBe(true);
    expect(target[6]).toBe(0xee);
    expect(target[7 + count]).toBe(0xee);
  });

  it('copies from a view into a larger buffer at the right offset', () => {
    const backing = Buffer.from('0123456789abcdef0123456789abcdef0123456789abcdef');
    const view = backing.subarray(8);
    const target = Buffer.alloc(40);
    copyBytes(target, 0, view, 1, 40);
    expect(target.toString('latin1', 0, 39)).toBe(backing.toString('latin1', 9, 48));
  });
});
