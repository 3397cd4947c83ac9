/**
 * Typed arrays that grow while a policy zone is built, and the exact-size
 * arrays they freeze into: the name tables' arenas and the rule columns.
 *
 * Why not `new Uint8Array(2 * n)` and `set()` on every doubling, as a vector
 * would: node allocates array buffers with glibc malloc, and glibc serves
 * blocks of 128 KiB and more with mmap, *until one of them is freed*. It then
 * raises its mmap threshold to that block's size (up to 32 MiB) and its trim
 * threshold to twice that, so every later block below the new threshold comes
 * from the brk heap, and memory freed there is not returned to the system. A
 * million-rule load freed blocks of 1 to 16 MiB as its arrays doubled: after
 * it, the heap held about 19 MiB that nothing used (malloc_stats and
 * malloc_trim called through gdb on the server: VmRSS 174 MiB, 155 after the
 * trim).
 *
 * So past 64 KiB a growing array lives in a resizable ArrayBuffer. V8 reserves
 * its address space up front and commits pages as it grows, with its own page
 * allocator (mmap, never malloc): it grows in place (no copy), and `release()`
 * hands its pages back at once instead of at the next full GC. Lookups never
 * read these buffers: V8's element access on a resizable buffer is slower
 * (25-45% in a loop of loads on Node 20), so `freeze()` copies into a plain
 * array of the exact length, which is also where the doubling slack goes.
 */
/** A typed array constructor this module works with. */
export interface TypedArrayKind<T extends GrowableArray> {
  new (length: number): T;
  new (buffer: ArrayBuffer): T;
  readonly BYTES_PER_ELEMENT: number;
}

export type GrowableArray = Uint8Array | Uint32Array;

/** ES2024 resizable ArrayBuffer (Node 20); the project's lib is ES2022. */
interface ResizableBuffer extends ArrayBuffer {
  readonly maxByteLength: number;
  resize(byteLength: number): void;
}
const ResizableBuffer = ArrayBuffer as unknown as new (byteLength: number, options: { maxByteLength: number }) => ResizableBuffer;

/**
 * Below this an array stays plain (malloc's small blocks, which it reuses);
 * creating a resizable buffer costs a few system calls (about 20 µs), which
 * the many small zones of the tests and the fuzzer should not pay.
 */
const RESIZABLE_FROM = 64 * 1024;
/** Address space reserved by a resizable buffer's first reservation (committed only as it grows). */
const FIRST_RESERVATION = 64 * 1024 * 1024;

/** A typed array with room to grow; `a` is the current view (re-read it after `reserve`). */
export class Growable<T extends GrowableArray> {
  a: T;
  private buffer: ResizableBuffer | undefined;

  constructor(private readonly kind: TypedArrayKind<T>, length: number) {
    this.a = this.alloc(length, FIRST_RESERVATION);
  }

  /** Room for at least `length` elements (at least double the old length); new elements are 0. */
  reserve(length: number): T {
    if (length <= this.a.length) return this.a;
    const n = Math.max(length, this.a.length * 2);
    const bytes = n * this.kind.BYTES_PER_ELEMENT;
    const rab = this.buffer;
    if (rab && bytes <= rab.maxByteLength) {
      rab.resize(bytes); // in place: the view tracks the buffer's length
      return this.a;
    }
    // Out of reserved space (or still plain): a new buffer, one copy.
    const old = this.a;
    this.a = this.alloc(n, rab ? bytes * 8 : FIRST_RESERVATION);
    this.a.set(old);
    if (rab) rab.resize(0);
    return this.a;
  }

  /**
   * A plain array holding the first `length` elements. The growable's pages
   * are released too, unless `keep` (a caller that yields between the copy
   * and the release, some milliseconds each for tens of MB, calls `release()`).
   */
  freeze(length: number, keep = false): T {
    const out = new this.kind(length);
    out.set(this.a.subarray(0, length));
    if (!keep) this.release();
    return out;
  }

  /**
   * Give the pages back now; the array is empty afterwards. (Left to the GC,
   * an old-generation buffer would wait for the next full collection.)
   */
  release(): void {
    this.buffer?.resize(0);
    this.buffer = undefined;
    this.a = new this.kind(0);
  }

  private alloc(length: number, reservation: number): T {
    const bytes = length * this.kind.BYTES_PER_ELEMENT;
    if (bytes < RESIZABLE_FROM) {
      this.buffer = undefined;
      return new this.kind(length);
    }
    this.buffer = new ResizableBuffer(bytes, { maxByteLength: Math.max(bytes, reservation) });
    return new this.kind(this.buffer);
  }
}
