/**
 * UDP listeners on the batched addon (native/udp, issue 19): recvmmsg and
 * sendmmsg, one call into JavaScript per batch of datagrams.
 *
 * The addon is optional. It is built at `npm ci` when the machine can (Linux,
 * a C compiler, Node's headers) and its build never fails the install; where
 * it is missing or cannot load, or `server.udp_io: dgram` (or the environment
 * variable VERDICT_UDP_IO=dgram) says so, the listeners are node:dgram's.
 *
 * Per batch the addon fills, for slot i: the datagram at `input[i * slot ..]`,
 * and in `meta` its length, family (4/6), source port and address as 32-bit
 * integers. Datagrams the fast path answers are copied into `out` and listed
 * in `ometa` (slot, offset, length); the returned count makes the addon send
 * them with one sendmmsg. The others are copied out of the slot (which the
 * next batch reuses) with their source sockaddr, and go down the pipeline;
 * their replies leave later, one sendto each. Per datagram the fast path
 * costs a view of the slot and the address string, which comes from a cache
 * keyed by the address's integers.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** Which UDP I/O a listener runs on (verdict_udp_io{impl}). */
export type UdpImpl = 'recvmmsg' | 'dgram';
/** server.udp_io: the addon when it loads (auto), always it (recvmmsg: start fails without it), or never (dgram). */
export type UdpIoSetting = 'auto' | 'recvmmsg' | 'dgram';

/** The socket object the addon returns (its buffers are allocated once, at open). */
interface RawSocket {
  readonly port: number;
  readonly input: Buffer;
  readonly meta: Buffer;
  readonly addrs: Buffer;
  readonly out: Buffer;
  readonly ometa: Buffer;
  readonly batch: number;
  readonly slot: number;
  readonly addrSize: number;
}

interface Binding {
  open(family: 4 | 6, address: string, port: number, rcvbuf: number, reusePort: boolean): RawSocket;
  start(s: RawSocket, onBatch: (count: number) => number): void;
  close(s: RawSocket): void;
  sendOne(s: RawSocket, wire: Buffer, sockaddr: Buffer): number;
  recvBufferSize(s: RawSocket): number;
  ntop(s: RawSocket, slot: number): string;
  stats(s: RawSocket): number[];
}

/** The addon's file, from dist/src/resolver/ or src/resolver/ alike. */
const ADDON = fileURLToPath(new URL('../../../native/udp/build/Release/verdict_udp.node', import.meta.url));
const ADDON_FROM_SRC = fileURLToPath(new URL('../../native/udp/build/Release/verdict_udp.node', import.meta.url));

let addon: { binding?: Binding; error?: string } | undefined;

/** The addon, loaded once; `error` says why it is not there. */
export function loadUdpAddon(): { binding?: Binding; error?: string } {
  if (addon) return addon;
  if (process.platform !== 'linux') return (addon = { error: `recvmmsg/sendmmsg are Linux only (this is ${process.platform})` });
  const require = createRequire(import.meta.url);
  const errors: string[] = [];
  for (const file of [ADDON, ADDON_FROM_SRC]) {
    try {
      return (addon = { binding: require(file) as Binding });
    } catch (e) {
      errors.push((e as Error).message.split('\n')[0]!);
    }
  }
  return (addon = { error: `native/udp not built or not loadable (${errors[0]}); build it with npm run build:native` });
}

/**
 * Which I/O the listeners use, and why: VERDICT_UDP_IO (auto | recvmmsg | dgram)
 * overrides server.udp_io. Throws when recvmmsg is required and cannot load.
 */
export function chooseUdpIo(setting: UdpIoSetting): { impl: UdpImpl; reason?: string } {
  const env = process.env.VERDICT_UDP_IO;
  let want = setting;
  if (env !== undefined && env !== '') {
    if (env !== 'auto' && env !== 'recvmmsg' && env !== 'dgram') throw new Error(`VERDICT_UDP_IO must be auto, recvmmsg or dgram, not "${env}"`);
    want = env;
  }
  if (want === 'dgram') return { impl: 'dgram', reason: env === 'dgram' ? 'VERDICT_UDP_IO=dgram' : 'server.udp_io: dgram' };
  const a = loadUdpAddon();
  if (a.binding) return { impl: 'recvmmsg' };
  if (want === 'recvmmsg') throw new Error(`server.udp_io: recvmmsg, but ${a.error}`);
  return { impl: 'dgram', reason: a.error! };
}

/**
 * The fast path's answer to a datagram now, written into `out` at `at` (room for MAX_REPLY
 * bytes there): its length, or 0 when it has none.
 */
export type FastAnswer = (msg: Buffer, address: string, out: Buffer, at: number) => number;

/** The largest reply a FastAnswer may write: server.max_udp_size's maximum. The output buffer holds a batch of them. */
export const MAX_REPLY = 4096;
/** Anything else: the pipeline, which calls `reply` once it has an answer (or never, to drop). */
export type SlowPath = (msg: Buffer, address: string, port: number, reply: (wire: Buffer) => void) => void;

/** Bound on the address-string cache; it is emptied when full (cheap, and rebuilt by the next packets). */
const ADDRESS_CACHE_MAX = 65536;

export class BatchedUdpSocket {
  private readonly meta: Int32Array;
  private readonly ometa: Int32Array;
  private readonly v4Names = new Map<number, string>();
  private readonly v6Names = new Map<string, string>();
  private closed = false;

  private constructor(private readonly binding: Binding, private readonly raw: RawSocket, readonly family: 4 | 6, readonly host: string) {
    this.meta = new Int32Array(raw.meta.buffer, raw.meta.byteOffset, raw.meta.length >> 2);
    this.ometa = new Int32Array(raw.ometa.buffer, raw.ometa.byteOffset, raw.ometa.length >> 2);
  }

  /**
   * A socket bound to `address:port` (port 0: the kernel's choice). `reusePort` sets SO_REUSEPORT,
   * so that each worker process binds its own socket on the same port and the kernel spreads
   * datagrams over them by flow hash; without it a second bind fails with EADDRINUSE as dgram's does.
   */
  static open(family: 4 | 6, address: string, port: number, opts: { receiveBuffer?: number; reusePort?: boolean } = {}): BatchedUdpSocket {
    const binding = loadUdpAddon().binding;
    if (!binding) throw new Error('the batched UDP addon is not loaded');
    const raw = binding.open(family, address, port, opts.receiveBuffer ?? 0, opts.reusePort ?? false);
    return new BatchedUdpSocket(binding, raw, family, address);
  }

  address(): { address: string; port: number; family: string } {
    return { address: this.host, port: this.raw.port, family: this.family === 6 ? 'IPv6' : 'IPv4' };
  }

  recvBufferSize(): number {
    return this.binding.recvBufferSize(this.raw);
  }

  /** [wake-ups, batches, datagrams, replies sent, replies not sent] since open. */
  stats(): number[] {
    return this.binding.stats(this.raw);
  }

  start(fast: FastAnswer | undefined, slow: SlowPath): void {
    const { input, out, addrs, slot, addrSize, batch } = this.raw;
    if (out.length < batch * MAX_REPLY) throw new Error('the addon\'s output buffer cannot hold a batch of replies');
    const meta = this.meta;
    const ometa = this.ometa;
    const binding = this.binding;
    const raw = this.raw;
    this.binding.start(raw, (count) => {
      if (this.closed) return 0;
      let replies = 0;
      let used = 0;
      const n = count > batch ? batch : count;
      for (let i = 0; i < n; i++) {
        const m = i * 8;
        const len = meta[m]!;
        if (len < 0) continue; // no usable source address
        const address = this.addressOf(i, m);
        const at = i * slot;
        const msg = input.subarray(at, at + len);
        const wrote = fast !== undefined && out.length - used >= MAX_REPLY ? fast(msg, address, out, used) : 0;
        if (wrote > 0) {
          const o = replies * 3;
          ometa[o] = i;
          ometa[o + 1] = used;
          ometa[o + 2] = wrote;
          used += wrote;
          replies++;
          continue;
        }
        // The slot and its address are reused by the next batch: the pipeline gets copies.
        const sockaddr = Buffer.from(addrs.subarray(i * addrSize, (i + 1) * addrSize));
        slow(Buffer.from(msg), address, meta[m + 2]!, (reply) => {
          if (!this.closed) binding.sendOne(raw, reply, sockaddr);
        });
      }
      return replies;
    });
  }

  private addressOf(i: number, m: number): string {
    const meta = this.meta;
    if (meta[m + 1] === 4) {
      const a = meta[m + 3]!;
      let s = this.v4Names.get(a);
      if (s === undefined) {
        if (this.v4Names.size >= ADDRESS_CACHE_MAX) this.v4Names.clear();
        s = `${(a >>> 24) & 255}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
        this.v4Names.set(a, s);
      }
      return s;
    }
    const key = `${meta[m + 3]},${meta[m + 4]},${meta[m + 5]},${meta[m + 6]}`;
    let s = this.v6Names.get(key);
    if (s === undefined) {
      if (this.v6Names.size >= ADDRESS_CACHE_MAX) this.v6Names.clear();
      s = this.binding.ntop(this.raw, i); // inet_ntop's RFC 5952 form, as dgram's rinfo.address
      this.v6Names.set(key, s);
    }
    return s;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.binding.close(this.raw);
  }
}
