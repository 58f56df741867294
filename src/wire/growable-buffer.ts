/**
 * An append-only byte buffer that doubles its capacity when full and keeps it across `reset()`.
 *
 * It is the unit of buffer reuse on the hot path: an encoder owns one, resets it per request, and
 * after the first few requests never allocates again.
 */
import { uvarintSize, writeUvarint } from './varint.js';

/** Smallest capacity worth allocating; below this, doubling would just churn. */
const MIN_CAPACITY_BYTES = 256;

export class GrowableBuffer {
  /** The backing store; bytes [0, length) are the content. Replaced (not resized) on growth. */
  private store: Buffer;
  /** Bytes written since the last reset. */
  length = 0;

  constructor(initialCapacityBytes = 64 * 1024) {
    // allocUnsafeSlow: a long-lived buffer must not pin a slice of Node's shared pool. Unsafe is
    // fine: nothing past `length` is ever read.
    this.store = Buffer.allocUnsafeSlow(Math.max(MIN_CAPACITY_BYTES, initialCapacityBytes));
  }

  /** Current capacity in bytes. */
  get capacityBytes(): number {
    return this.store.length;
  }

  /** Forget the content, keep the capacity. Views handed out earlier then see overwritten bytes. */
  reset(): void {
    this.length = 0;
  }

  /** Makes room for `extraBytes` more bytes, doubling the capacity as often as needed. */
  ensureSpare(extraBytes: number): void {
    const needed = this.length + extraBytes;
    if (needed <= this.store.length) return;
    let capacity = this.store.length * 2;
    while (capacity < needed) capacity *= 2;
    const grown = Buffer.allocUnsafeSlow(capacity);
    this.store.copy(grown, 0, 0, this.length);
    this.store = grown;
  }

  /** Appends one byte (0..255). */
  pushByte(byte: number): void {
    if (this.length === this.store.length) this.ensureSpare(1);
    this.store[this.length++] = byte;
  }

  /** Appends `value` (a non-negative integer below 2^53) as an unsigned varint. */
  pushUvarint(value: number): void {
    this.ensureSpare(uvarintSize(value));
    this.length = writeUvarint(this.store, this.length, value);
  }

  /** Appends bytes [start, end) of `source`. */
  pushBytes(source: Uint8Array, start: number, end: number): void {
    const count = end - start;
    this.ensureSpare(count);
    const store = this.store;
    let at = this.length;
    if (count <= 24) {
      // A plain loop beats the native copy call for the short spans the hot path appends
      // (one sample field is about 17 bytes).
      for (let i = start; i < end; i++) store[at++] = source[i] as number;
    } else {
      store.set(source.subarray(start, end), at);
    }
    this.length += count;
  }

  /** Appends the whole content of `other`. */
  pushContentOf(other: GrowableBuffer): void {
    this.pushBytes(other.store, 0, other.length);
  }

  /**
   * The content, as a view into the backing store (no copy). Valid until the next `reset()` or
   * the next append that grows the buffer; copy it to keep it longer.
   */
  view(): Buffer {
    return this.store.subarray(0, this.length);
  }
}
