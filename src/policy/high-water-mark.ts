/**
 * Per-series high-water marks: the newest timestamp tributary accepted (made durable) for each
 * series, so that a sample not newer than it is dropped before it reaches a queue (DESIGN.md,
 * guarantee "order per series"; reference/remote-write-and-relabel-facts.md §4: central Prometheus
 * 2.42 rolls back a whole request on the first out-of-order or conflicting duplicate sample).
 *
 * Three pieces, all on typed arrays (no object per series, no string):
 *
 * - {@link hashSeriesKey}: a 64-bit hash of (tenant, the series' label bytes as they arrived), computed
 *   on the bytes through a DataView: four 32-bit lanes of multiply-rotate with cross-lane mixing.
 * - {@link HighWaterMarks}: the bounded table, key -> mark, shared by every request (and kept across
 *   config reloads). Two generations of open-addressing tables; see the class comment for eviction.
 * - {@link RequestMarks} and {@link MarkUpdate}: a request's own view (a series may appear several
 *   times in one request) and the updates it will make once its data is durable. The table is
 *   changed only by {@link MarkUpdate.commit}, which the write route calls after the queue append
 *   resolved: a request answered 503 leaves no mark behind, so the sender's retry is not mistaken
 *   for a resend.
 *
 * What can go wrong, and on which side it errs:
 * - Forgetting a mark (eviction, restart, config reload with another size) lets the series' next
 *   sample through as if the series were new. That is the safe side: nothing good is ever dropped
 *   because of it; at worst a stale sample reaches the backend, which refuses it (400), and the
 *   forwarder's split-on-400 isolates it. Without the table that is what would happen anyway.
 * - A mark that is too new would drop good data. Two things could cause one: committing marks for
 *   data that was not made durable (prevented by commit-after-append), and a hash collision between
 *   two live series (two series sharing a key share a mark, so the one scraped a little earlier would
 *   see its samples dropped). With 64-bit keys the chance that any two of n series collide is
 *   about n^2 / 2^65: 3e-8 for a million tracked series, and about 1e-4 after a billion series have
 *   come and gone against a million tracked ones (each new series meets at most 2n keys). A
 *   collision with a series that has gone quiet costs nothing (its mark is in the past).
 * - The key is the label bytes as they arrived, not the series as forwarded: the same series sent
 *   in two encodings (labels in another order, the cluster label sent by one edge and injected for
 *   another, an extra empty-valued label) has two keys, so those variants are not checked against
 *   each other. The safe side again: a sample is never dropped for it.
 */

// ---- hashing ----

/** The two 32-bit halves of a 64-bit key (reused result holder: no object per series). */
export class SeriesKey {
  lo = 0;
  hi = 0;
}

// Odd multipliers with well-mixed bits (xxHash32 / MurmurHash3 constants).
const M1 = 0x9e3779b1 | 0;
const M2 = 0x85ebca77 | 0;
const M3 = 0xc2b2ae3d | 0;
const M4 = 0x27d4eb2f | 0;

/** MurmurHash3's 32-bit finaliser: every input bit affects every output bit. */
function fmix32(x: number): number {
  let h = x ^ (x >>> 16);
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * 64-bit hash of bytes [from, to) of `bytes` (`view` must be a DataView over the same memory, same
 * offset), seeded with two 32-bit words; the result goes to `out` (lo, hi as int32; never both 0,
 * which marks an empty slot). Pure function of the bytes and the seed: the alignment of `from`
 * does not matter, so the same label bytes give the same key in every request.
 *
 * Four 32-bit lanes, each absorbing every fourth word by xor, multiply, rotate, plus the previous
 * value of its neighbour lane. The lanes run in parallel (one multiply per 4 bytes is the floor
 * here: about 0.2 ns per byte, ~70 ns for the bench's 357-byte Kubernetes label sets), and the
 * neighbour term spreads every difference into the other lanes before its lane absorbs another
 * word, so two inputs collide only if several lanes cancel at once: the 128-bit state does not
 * behave like four separate 32-bit hashes. Two finalising chains, in opposite lane order, give the
 * two halves; each depends on every lane.
 *
 * Not meant to resist a sender crafting collisions: the tenant is part of the seed, so a tenant
 * could only make its own series share a mark.
 */
export function hashBytes64(view: DataView, bytes: Uint8Array, from: number, to: number, seedLo: number, seedHi: number, out: SeriesKey): void {
  let a = seedLo ^ M1;
  let b = seedHi ^ M2;
  let c = (seedLo + M3) | 0;
  let d = (seedHi + M4) | 0;
  let i = from;
  // Two rounds per iteration (less loop overhead), then at most one more.
  for (const end = to - 32; i <= end; i += 32) {
    let x = Math.imul(a ^ view.getInt32(i, true), M1);
    let y = Math.imul(b ^ view.getInt32(i + 4, true), M2);
    let z = Math.imul(c ^ view.getInt32(i + 8, true), M3);
    let w = Math.imul(d ^ view.getInt32(i + 12, true), M4);
    x = (((x << 15) | (x >>> 17)) + b) | 0;
    y = (((y << 15) | (y >>> 17)) + c) | 0;
    z = (((z << 15) | (z >>> 17)) + d) | 0;
    w = (((w << 15) | (w >>> 17)) + a) | 0;
    a = Math.imul(x ^ view.getInt32(i + 16, true), M1);
    b = Math.imul(y ^ view.getInt32(i + 20, true), M2);
    c = Math.imul(z ^ view.getInt32(i + 24, true), M3);
    d = Math.imul(w ^ view.getInt32(i + 28, true), M4);
    a = (((a << 15) | (a >>> 17)) + y) | 0;
    b = (((b << 15) | (b >>> 17)) + z) | 0;
    c = (((c << 15) | (c >>> 17)) + w) | 0;
    d = (((d << 15) | (d >>> 17)) + x) | 0;
  }
  if (i <= to - 16) {
    let x = Math.imul(a ^ view.getInt32(i, true), M1);
    let y = Math.imul(b ^ view.getInt32(i + 4, true), M2);
    let z = Math.imul(c ^ view.getInt32(i + 8, true), M3);
    let w = Math.imul(d ^ view.getInt32(i + 12, true), M4);
    x = ((x << 15) | (x >>> 17)) + b;
    y = ((y << 15) | (y >>> 17)) + c;
    z = ((z << 15) | (z >>> 17)) + d;
    w = ((w << 15) | (w >>> 17)) + a;
    a = x | 0;
    b = y | 0;
    c = z | 0;
    d = w | 0;
    i += 16;
  }
  // Up to three whole words left, each into lane a, the lanes then shifting by one; then up to
  // three bytes, the same way.
  for (const end = to - 4; i <= end; i += 4) {
    const x = Math.imul(a ^ view.getInt32(i, true), M2);
    const t = (((x << 13) | (x >>> 19)) + b) | 0;
    a = b;
    b = c;
    c = d;
    d = t;
  }
  let tail = 0;
  for (let shift = 0; i < to; i++, shift += 8) tail |= (bytes[i] as number) << shift;
  const x = Math.imul(a ^ tail, M1);
  a = (((x << 13) | (x >>> 19)) + b) | 0;
  const length = to - from;
  let lo = fmix32(a ^ length);
  lo = fmix32(b ^ lo);
  lo = fmix32(c ^ lo);
  lo = fmix32(d ^ lo);
  let hi = fmix32(d ^ length ^ M2);
  hi = fmix32(c ^ hi);
  hi = fmix32(b ^ hi);
  hi = fmix32(a ^ hi);
  out.lo = lo === 0 && hi === 0 ? 1 : lo;
  out.hi = hi;
}

/**
 * The key of series `labelsFrom..labelsTo` of a decoded request: its label block (from the first
 * byte of its first label to the last byte of its last label, as they arrived, protobuf framing
 * included) hashed with the tenant's seed. Senders write labels first and in a fixed order, so the
 * same series gives the same bytes in every request. A sender that put other fields between the
 * labels would get a new key per request: the series would merely go unprotected (the safe side).
 */
export function hashSeriesKey(view: DataView, bytes: Uint8Array, labelsFrom: number, labelsTo: number, seed: SeriesKey, out: SeriesKey): void {
  hashBytes64(view, bytes, labelsFrom, labelsTo, seed.lo, seed.hi, out);
}

/** The seed for one tenant's keys: its name hashed (so tenants with the same series never share marks). */
export function tenantSeed(tenant: string): SeriesKey {
  const bytes = Buffer.from(tenant, 'utf8');
  const seed = new SeriesKey();
  hashBytes64(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), bytes, 0, bytes.length, 0x74726962, 0x75746172, seed);
  return seed;
}

// ---- the table ----

/** Largest share of a generation's slots in use (linear probing stays short below it). */
const MAX_LOAD = 0.7;
/**
 * Slot positions come from 26 bits of the key's low half, multiplied first so that keys that are
 * not hashes (tests) spread too; exact in float arithmetic for any slot count < 2^27.
 */
const POSITION_SCALE = 2 ** -26;
const MAX_SLOTS = 2 ** 27;
/** A new table starts this small and doubles: its lookups stay in the CPU caches while it is small. */
const INITIAL_SLOTS = 1024;
/**
 * After a doubling, each record() moves the keys of this many slots of the old table into the new
 * one, so no single call pays for the whole move (a full rehash of 700k keys took 40-150 ms here).
 * Enough to finish long before the new table fills: see #generation().
 */
const MOVE_SLOTS_PER_RECORD = 8;

/**
 * One open-addressing table with linear probing. Slot i is 16 bytes in one ArrayBuffer, so a probe
 * touches one cache line: key at int32 [4i, 4i+1] (0, 0 = empty), mark at float64 [2i+1].
 */
class Generation {
  readonly slots: number;
  readonly keys: Int32Array;
  readonly marks: Float64Array;
  /** Keys held; never more than `limit`. */
  count = 0;
  /** Most keys this size holds before it must grow (or, at full size, be retired). */
  readonly limit: number;

  constructor(slots: number, limit: number) {
    const buffer = new ArrayBuffer(slots * 16);
    this.slots = slots;
    this.keys = new Int32Array(buffer);
    this.marks = new Float64Array(buffer);
    this.limit = limit;
  }

  clear(): void {
    this.keys.fill(0);
    this.count = 0;
  }

  /**
   * Read the first slot of each key, and nothing else: the loads are independent, so the CPU
   * fetches many cache lines at once, where lookups one after another would wait for each.
   */
  touch(los: Int32Array, count: number): number {
    const keys = this.keys;
    const scale = this.slots * POSITION_SCALE;
    let sum = 0;
    for (let e = 0; e < count; e++) sum ^= keys[4 * Math.floor((Math.imul(los[e] as number, M1) >>> 6) * scale)] as number;
    return sum;
  }

  /** Slot of the key, or -(first empty slot) - 1 when it is absent. */
  find(lo: number, hi: number): number {
    const keys = this.keys;
    const slots = this.slots;
    let i = Math.floor((Math.imul(lo, M1) >>> 6) * slots * POSITION_SCALE);
    for (;;) {
      const k = 4 * i;
      const klo = keys[k] as number;
      const khi = keys[k + 1] as number;
      if (klo === lo && khi === hi) return i;
      if (klo === 0 && khi === 0) return -i - 1;
      if (++i === slots) i = 0;
    }
  }

  /** Put a key known to be absent into its empty slot (`at` from find()). */
  insertAt(at: number, lo: number, hi: number, mark: number): void {
    const slot = -at - 1;
    this.keys[4 * slot] = lo;
    this.keys[4 * slot + 1] = hi;
    this.marks[2 * slot + 1] = mark;
    this.count++;
  }

  /**
   * Copy the keys of slots [from, to) into `into` (the larger generation that replaces this one),
   * unless `into` has them already (recorded there since, with a mark at least as high).
   */
  moveInto(into: Generation, from: number, to: number): void {
    const keys = this.keys;
    for (let i = from; i < to; i++) {
      const lo = keys[4 * i] as number;
      const hi = keys[4 * i + 1] as number;
      if (lo === 0 && hi === 0) continue;
      const at = into.find(lo, hi);
      if (at < 0) into.insertAt(at, lo, hi, this.marks[2 * i + 1] as number);
    }
  }
}

/**
 * The bounded map from series key to the last accepted timestamp (ms).
 *
 * Memory: two generations of at most `ceil(maxSeries / 0.7)` slots of 16 bytes: at most about 46
 * bytes per tracked series (46 MB for the default million), plus, for a while after each doubling,
 * the half-size table being moved out of. A generation starts small and doubles as it fills, so the
 * table is only as large as the series seen need, and stays in the CPU caches for small fleets; it
 * never grows past that bound, whatever the senders do.
 *
 * Eviction by generations: marks are written into the current generation. When it holds
 * `maxSeries` keys it becomes the previous one, and the former previous one is emptied and becomes
 * current. Lookups check current, then previous; a series found only in the previous generation is
 * copied into the current one when its next mark is recorded. So a series is forgotten only after
 * at least `maxSeries` other series were recorded since its own last record: every series that is
 * active (recorded at least once while `maxSeries` others are) stays tracked, and with at most
 * `maxSeries` active series nothing active is ever forgotten. What a forgotten series costs: its
 * next sample passes as if the series were new (see the module comment: the safe side).
 *
 * Pauses: none that grows with the table. A doubling moves the old keys a few slots per record()
 * (lookups check the old table until it is empty); a rotation empties a generation with one
 * memset (about 1 ms at the default size, once per million series recorded). Both happen in
 * record(), i.e. in commits, never in lookups.
 */
export class HighWaterMarks {
  /** Keys per generation before it is retired; at most twice this many are held. */
  readonly maxSeries: number;
  /** Slots of a full-size generation. */
  readonly maxSlots: number;
  #current: Generation;
  /** After a doubling: the old, smaller table, whose keys move to the current one bit by bit. */
  #moving: Generation | undefined = undefined;
  /** Slots of #moving below this were moved already. */
  #movedUpTo = 0;
  #previous: Generation | undefined = undefined;
  #rotations = 0;
  /** Changes whenever keys move (growth, rotation, clear): slots from lookup() stay valid until then. */
  #version = 0;
  /** Slot of the key found by the last lookup() in the current generation, or -1. */
  #lastSlot = -1;

  /** `initialSlots`: size of the first table (tests use tiny ones to exercise growth). */
  constructor(maxSeries: number, options: { initialSlots?: number } = {}) {
    if (!Number.isInteger(maxSeries) || maxSeries < 1) throw new RangeError(`maxSeries must be a positive integer (got ${maxSeries})`);
    const maxSlots = Math.ceil(maxSeries / MAX_LOAD);
    if (maxSlots > MAX_SLOTS) throw new RangeError(`maxSeries ${maxSeries} is too large (at most ${Math.floor(MAX_SLOTS * MAX_LOAD)})`);
    this.maxSeries = maxSeries;
    this.maxSlots = maxSlots;
    // Every size below full is under half of it (see #generation): a small maxSeries starts full size.
    const initial = Math.max(2, options.initialSlots ?? INITIAL_SLOTS);
    this.#current = this.#generation(2 * initial >= maxSlots ? maxSlots : initial);
  }

  /** Most keys ever held at once (both generations). */
  get capacity(): number {
    return 2 * this.maxSeries;
  }

  /**
   * Keys held now, in all tables: a key copied forward (into a doubled table, or out of the
   * previous generation) counts twice until its old copy goes. At most `capacity`: a doubling
   * happens only before the first rotation, so a table being moved out of and a previous
   * generation never exist together.
   */
  get size(): number {
    return this.#current.count + (this.#moving?.count ?? 0) + (this.#previous?.count ?? 0);
  }

  /** Whether keys are still being moved out of a smaller table after a doubling. */
  get moving(): boolean {
    return this.#moving !== undefined;
  }

  /** Keys in the current generation. */
  get currentSize(): number {
    return this.#current.count;
  }

  /** How many times a generation was retired. */
  get rotations(): number {
    return this.#rotations;
  }

  /** Bytes of slot memory allocated now. */
  get allocatedBytes(): number {
    return (this.#current.slots + (this.#moving?.slots ?? 0) + (this.#previous?.slots ?? 0)) * 16;
  }

  /** A value that depends on the touched slots, so that the reads are not optimised away. */
  touched = 0;

  /**
   * Bring the current generation's slots for these keys into the CPU caches before looking them up
   * one by one: a lean loop of independent reads overlaps the cache misses of a large table.
   */
  prefetch(los: Int32Array, count: number): void {
    this.touched = this.#current.touch(los, count);
  }

  /** Changes whenever keys move; a slot from {@link lastSlot} is valid while it stays the same. */
  get version(): number {
    return this.#version;
  }

  /** Slot (in the current generation) where the last lookup() found its key, or -1. */
  get lastSlot(): number {
    return this.#lastSlot;
  }

  /** get(), also remembering where the key is (lastSlot), for a later raiseAt(). */
  lookup(lo: number, hi: number): number {
    const current = this.#current;
    const at = current.find(lo, hi);
    if (at >= 0) {
      this.#lastSlot = at;
      return current.marks[2 * at + 1] as number;
    }
    this.#lastSlot = -1;
    return this.#older(lo, hi);
  }

  /**
   * record() for a key that lookup() found at `slot` while `version` was current: no probing.
   * Falls back to record() when the keys moved since.
   */
  raiseAt(slot: number, version: number, lo: number, hi: number, mark: number): void {
    if (slot < 0 || version !== this.#version) {
      this.record(lo, hi, mark);
      return;
    }
    const marks = this.#current.marks;
    if (mark > (marks[2 * slot + 1] as number)) marks[2 * slot + 1] = mark;
  }

  /** The mark of a key, or -Infinity when it is not tracked. */
  get(lo: number, hi: number): number {
    const current = this.#current;
    const at = current.find(lo, hi);
    if (at >= 0) return current.marks[2 * at + 1] as number;
    return this.#older(lo, hi);
  }

  /** The mark of a key not in the current generation: from the table being moved out of, or the previous generation. */
  #older(lo: number, hi: number): number {
    const moving = this.#moving;
    if (moving !== undefined) {
      const at = moving.find(lo, hi);
      if (at >= 0) return moving.marks[2 * at + 1] as number;
    }
    const previous = this.#previous;
    if (previous === undefined || previous.count === 0) return Number.NEGATIVE_INFINITY;
    const old = previous.find(lo, hi);
    return old >= 0 ? (previous.marks[2 * old + 1] as number) : Number.NEGATIVE_INFINITY;
  }

  /** Raise the mark of a key to `mark` (never lowers it), tracking the key when it is new. */
  record(lo: number, hi: number, mark: number): void {
    if (this.#moving !== undefined) this.#moveSome(MOVE_SLOTS_PER_RECORD);
    let current = this.#current;
    let at = current.find(lo, hi);
    if (at >= 0) {
      if (mark > (current.marks[2 * at + 1] as number)) current.marks[2 * at + 1] = mark;
      return;
    }
    // Not in the current generation: carry a newer mark over from an older table.
    const newest = Math.max(mark, this.#older(lo, hi));
    if (current.count >= current.limit) {
      // Never the case while keys are still moving (see #generation), but finish first if so.
      if (this.#moving !== undefined) this.#moveSome(Number.POSITIVE_INFINITY);
      if (current.slots < this.maxSlots) this.#grow();
      else this.#rotate();
      current = this.#current;
      at = current.find(lo, hi);
    }
    current.insertAt(at, lo, hi, newest);
  }

  /** Forget everything (tests and benchmarks). */
  clear(): void {
    this.#current.clear();
    this.#moving = undefined;
    this.#previous?.clear();
    this.#version++;
  }

  /**
   * A generation of `slots` slots, holding at most 70% of them (maxSeries at full size). Sizes below
   * full are always under half of it: a table doubles, or goes straight to full size once that is
   * at most 4 times its size. So when S slots grow, at most 0.7 S keys move into at least 2 S slots
   * that hold at least 1.4 S (or maxSeries >= 0.7 x maxSlots > 1.4 S) keys: room for 0.7 S new keys
   * before the new table is full, while moving takes S / MOVE_SLOTS_PER_RECORD records, each adding
   * at most one key. Moving is always over long before the next doubling or rotation.
   */
  #generation(slots: number): Generation {
    const limit = slots === this.maxSlots ? this.maxSeries : Math.max(1, Math.floor(slots * MAX_LOAD));
    return new Generation(slots, limit);
  }

  #grow(): void {
    const slots = this.#current.slots;
    this.#moving = this.#current;
    this.#movedUpTo = 0;
    this.#current = this.#generation(4 * slots >= this.maxSlots ? this.maxSlots : 2 * slots);
    this.#version++;
  }

  /** Move the keys of up to `slots` more slots of the old table into the current one. */
  #moveSome(slots: number): void {
    const moving = this.#moving as Generation;
    const to = Math.min(moving.slots, this.#movedUpTo + slots);
    moving.moveInto(this.#current, this.#movedUpTo, to);
    this.#movedUpTo = to;
    if (to === moving.slots) this.#moving = undefined;
  }

  #rotate(): void {
    const retired = this.#current;
    // The retired generation is full size; so is the one it replaces (full-size ones are reused).
    let next = this.#previous;
    if (next === undefined || next.slots !== this.maxSlots) next = this.#generation(this.maxSlots);
    else next.clear();
    this.#previous = retired;
    this.#current = next;
    this.#rotations++;
    this.#version++;
  }
}

// ---- one request ----

/** Entries of one request: key, mark as the request goes, committed mark when first seen, slot hint. */
class MarkArrays {
  readonly lo: Int32Array;
  readonly hi: Int32Array;
  readonly mark: Float64Array;
  readonly base: Float64Array;
  readonly slot: Int32Array;

  constructor(readonly capacity: number) {
    this.lo = new Int32Array(capacity);
    this.hi = new Int32Array(capacity);
    this.mark = new Float64Array(capacity);
    this.base = new Float64Array(capacity);
    this.slot = new Int32Array(capacity);
  }
}

/**
 * Entry arrays kept for reuse (one set per request in flight between process and commit): at most
 * this many, each for at most MAX_POOLED_ENTRIES keys (28 bytes each): 7 MB at worst.
 */
const POOL_SIZE = 16;
const MAX_POOLED_ENTRIES = 1 << 14;

/**
 * The marks that one request's accepted data raises, to be applied with {@link commit} once that
 * data is durable. Holds the request's entry arrays (not a copy): commit gives them back for reuse,
 * so a request costs this one small object.
 */
export class MarkUpdate {
  static readonly EMPTY = new MarkUpdate(undefined, undefined, 0, 0, undefined);

  readonly #table: HighWaterMarks | undefined;
  #arrays: MarkArrays | undefined;
  /** Distinct series of the request that carried samples (marks raised or not). */
  readonly size: number;
  /** The table's version when the request looked its keys up: the slot hints hold while it lasts. */
  readonly #version: number;
  readonly #pool: MarkArrays[] | undefined;

  constructor(table: HighWaterMarks | undefined, arrays: MarkArrays | undefined, size: number, version: number, pool: MarkArrays[] | undefined) {
    this.#table = table;
    this.#arrays = arrays;
    this.size = size;
    this.#version = version;
    this.#pool = pool;
  }

  /** Whether commit() was called (or there was nothing to commit). */
  get committed(): boolean {
    return this.#arrays === undefined;
  }

  /** The mark this update sets for a key when committed, or undefined when it raises none (tests). */
  markOf(lo: number, hi: number): number | undefined {
    const arrays = this.#arrays;
    if (arrays === undefined) return undefined;
    for (let e = 0; e < this.size; e++) {
      if (arrays.lo[e] === lo && arrays.hi[e] === hi) return (arrays.mark[e] as number) > (arrays.base[e] as number) ? arrays.mark[e] : undefined;
    }
    return undefined;
  }

  /**
   * Apply the marks (once; later calls do nothing). Marks only rise, so updates committed in any
   * order, or between other requests' process(), end in the same table.
   */
  commit(): void {
    const arrays = this.#arrays;
    const table = this.#table;
    if (arrays === undefined || table === undefined) return;
    this.#arrays = undefined;
    const { lo, hi, mark, base, slot } = arrays;
    const version = this.#version;
    for (let e = 0; e < this.size; e++) {
      const m = mark[e] as number;
      if (m > (base[e] as number)) table.raiseAt(slot[e] as number, version, lo[e] as number, hi[e] as number, m);
    }
    const pool = this.#pool;
    if (pool !== undefined && pool.length < POOL_SIZE && arrays.capacity <= MAX_POOLED_ENTRIES) pool.push(arrays);
  }
}

/**
 * A request's view of the marks, reused from request to request by its pipeline: the first time a
 * key appears it reads the table's committed mark, later appearances in the same request see what
 * the earlier ones kept. So a series sent as several TimeSeries entries in one request (as
 * Prometheus does when it catches up) is filtered as one series, in wire order.
 *
 * Use: reset(series) at the start of a request; entry() per series; mark()/setMark() as samples
 * are kept; take() at the end hands the entries to a MarkUpdate (the next reset() starts afresh).
 */
export class RequestMarks {
  readonly #table: HighWaterMarks;
  /** Open-addressing index: entry number + 1, 0 = empty; power-of-two size, at least twice the entries. */
  #index = new Int32Array(512);
  #mask = 511;
  /** The request's entries; none between take() and the next reset(). */
  #arrays: MarkArrays | undefined = undefined;
  // The current arrays' fields, held directly (read for every series).
  #lo: Int32Array = new Int32Array(0);
  #hi: Int32Array = new Int32Array(0);
  #mark: Float64Array = new Float64Array(0);
  #base: Float64Array = new Float64Array(0);
  #slot: Int32Array = new Int32Array(0);
  readonly #pool: MarkArrays[] = [];
  #count = 0;

  constructor(table: HighWaterMarks) {
    this.#table = table;
  }

  get table(): HighWaterMarks {
    return this.#table;
  }

  /** Start a request of at most `series` distinct keys. */
  reset(series: number): void {
    let size = 64;
    while (size < 2 * series) size *= 2;
    // A huge index (after a huge request) is given up once requests are normal again.
    if (this.#index.length < size || (this.#index.length > 4 * MAX_POOLED_ENTRIES && size <= MAX_POOLED_ENTRIES)) this.#index = new Int32Array(size);
    else this.#index.fill(0, 0, size);
    this.#mask = size - 1;
    if (this.#arrays === undefined || this.#arrays.capacity < series) {
      // Pooled arrays too small for this request are let go.
      let arrays = this.#pool.pop();
      while (arrays !== undefined && arrays.capacity < series) arrays = this.#pool.pop();
      this.#use(arrays ?? new MarkArrays(Math.max(series, 256)));
    }
    this.#count = 0;
  }

  /** The entry of a key in this request, created with the table's mark the first time. */
  entry(lo: number, hi: number): number {
    const index = this.#index;
    const mask = this.#mask;
    const los = this.#lo;
    const his = this.#hi;
    let i = (lo ^ hi) & mask;
    for (;;) {
      const e = (index[i] as number) - 1;
      if (e < 0) break;
      if (los[e] === lo && his[e] === hi) return e;
      i = (i + 1) & mask;
    }
    const e = this.#count++;
    index[i] = e + 1;
    los[e] = lo;
    his[e] = hi;
    const table = this.#table;
    const committed = table.lookup(lo, hi);
    this.#mark[e] = committed;
    this.#base[e] = committed;
    this.#slot[e] = table.lastSlot;
    return e;
  }

  mark(entry: number): number {
    return this.#mark[entry] as number;
  }

  setMark(entry: number, mark: number): void {
    this.#mark[entry] = mark;
  }

  /** The request's marks, to commit once its data is durable. */
  take(): MarkUpdate {
    const arrays = this.#arrays;
    if (arrays === undefined || this.#count === 0) return MarkUpdate.EMPTY;
    const update = new MarkUpdate(this.#table, arrays, this.#count, this.#table.version, this.#pool);
    this.#arrays = undefined;
    this.#count = 0;
    return update;
  }

  #use(arrays: MarkArrays): void {
    this.#arrays = arrays;
    this.#lo = arrays.lo;
    this.#hi = arrays.hi;
    this.#mark = arrays.mark;
    this.#base = arrays.base;
    this.#slot = arrays.slot;
  }
}
