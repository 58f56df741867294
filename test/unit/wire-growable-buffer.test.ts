import { describe, expect, it } from 'vitest';
import { GrowableBuffer } from '../../src/wire/growable-buffer.js';

describe('GrowableBuffer', () => {
  it('appends bytes, varints and spans in order', () => {
    const out = new GrowableBuffer(0);
    out.pushByte(0x0a);
    out.pushUvarint(300);
    out.pushBytes(Buffer.from('xhelloy'), 1, 6);
    expect(out.view().toString('hex')).toBe('0aac02' + Buffer.from('hello').toString('hex'));
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

  it('appends the content of another buffer', () => {
    const a = new GrowableBuffer(0);
    const b = new GrowableBuffer(0);
    a.pushByte(1);
    b.pushBytes(Buffer.from([2, 3, 4]), 0, 3);
    a.pushContentOf(b);
    expect([...a.view()]).toEqual([1, 2, 3, 4]);
  });
});
