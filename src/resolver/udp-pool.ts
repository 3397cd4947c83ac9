/**
 * Outgoing UDP sockets for upstream queries, pre-opened and rotated (as
 * Unbound's outgoing-range), instead of a new socket per query.
 *
 * Why: in Node a socket per query costs a libuv handle, a bind, a close and
 * their JavaScript wrappers, about a fifth of the CPU of a cache miss
 * (bench/profile.ts). A pool keeps the defences of RFC 5452 9.2 at a strength
 * we can state:
 * - every socket is bound to port 0, so the kernel picks a random port of the
 *   ephemeral range (Linux: 32768-60999, about 14.8 bits);
 * - a socket carries one outstanding query at a time (an exclusive lease), so
 *   a reply is matched against exactly one question;
 * - the idle socket a query takes is chosen with a CSPRNG, so an attacker who
 *   has learnt every open port (by making us query a zone of his) still has
 *   log2(idle sockets) bits to guess: 8 with the default 256 when idle, 7.3
 *   with 100 queries in flight;
 * - a socket is closed after `usesPerSocket` queries and replaced by one on a
 *   new random port, so the set of open ports an attacker may have mapped
 *   keeps changing (at 5,000 misses/s, every 0.4 s with the defaults).
 * Together with the 16-bit CSPRNG ID and 0x20 (one bit per letter of the
 * name), a forged answer must guess 16 + 7.3 + letters bits against an
 * attacker who knows the pool, 16 + 14.8 + letters against one who does not.
 * docs/ARCHITECTURE.md has the figures.
 */
import { randomInt } from 'node:crypto';
import type { RemoteInfo, Socket } from 'node:dgram';
import DgramAsPromised from 'dgram-as-promised';
import type { SocketAsPromised } from 'dgram-as-promised';

export type Family = 'udp4' | 'udp6';

/** One pooled socket; `onMessage` is set while it is leased to a query. */
export interface Lease {
  readonly socket: Socket;
  /** Its dgram-as-promised wrapper, which closes it. */
  readonly owner: SocketAsPromised;
  readonly port: number;
  uses: number;
  onMessage: ((msg: Buffer, rinfo: RemoteInfo) => void) | undefined;
}

export interface PoolOptions {
  /**
   * Sockets kept open per address family, idle or carrying a query; a query finding none idle
   * opens one more, closed when it is done. Idle sockets left to choose from: size - queries in flight.
   */
  size: number;
  /** Queries a socket carries before it is closed and replaced (1 = a new socket per query). */
  usesPerSocket: number;
}

export interface PoolStats {
  opened: number;
  closed: number;
  /** Datagrams that reached an idle socket (a late answer, or a forgery). */
  strays: number;
}

interface FamilyPool {
  idle: Lease[];
  /** Sockets being opened in the background. */
  filling: number;
  /** Sockets carrying a query now. */
  leased: number;
}

export class UdpPool {
  readonly stats: PoolStats = { opened: 0, closed: 0, strays: 0 };
  private readonly families = new Map<Family, FamilyPool>();
  private closed = false;

  constructor(private readonly opts: PoolOptions) {}

  /** A socket of `family` for one query: a random idle one, or a new one when none is idle. */
  acquire(family: Family): Lease | Promise<Lease> {
    if (this.closed) return Promise.reject(new Error('socket pool closed'));
    const f = this.familyPool(family);
    this.refill(family, f);
    const n = f.idle.length;
    if (n > 0) {
      // Swap-remove a CSPRNG-chosen index: O(1), and no order an attacker could follow.
      const i = n === 1 ? 0 : randomInt(n);
      const lease = f.idle[i]!;
      f.idle[i] = f.idle[n - 1]!;
      f.idle.pop();
      f.leased++;
      return lease;
    }
    // None idle (a burst past `size`, or the pool still filling): one more, dropped when released.
    f.leased++;
    return this.open(family).catch((e: Error) => { f.leased--; throw e; });
  }

  /** Back to the pool (or closed, once it has carried `usesPerSocket` queries or the pool is full). */
  release(family: Family, lease: Lease): void {
    lease.onMessage = undefined;
    lease.uses++;
    const f = this.familyPool(family);
    f.leased--;
    if (this.closed || lease.uses >= this.opts.usesPerSocket || f.idle.length + f.leased + f.filling >= this.opts.size) {
      this.drop(lease);
      if (!this.closed) this.refill(family, f);
      return;
    }
    f.idle.push(lease);
  }

  /** Open sockets (idle ones; leased ones close when released). */
  get idleCount(): number {
    let n = 0;
    for (const f of this.families.values()) n += f.idle.length;
    return n;
  }

  close(): void {
    this.closed = true;
    for (const f of this.families.values()) {
      for (const l of f.idle) this.drop(l);
      f.idle.length = 0;
    }
  }

  private familyPool(family: Family): FamilyPool {
    let f = this.families.get(family);
    if (!f) this.families.set(family, (f = { idle: [], filling: 0, leased: 0 }));
    return f;
  }

  /** Opens sockets in the background until `size` are idle (or being opened). */
  private refill(family: Family, f: FamilyPool): void {
    while (f.idle.length + f.leased + f.filling < this.opts.size && this.opts.usesPerSocket > 1) {
      f.filling++;
      this.open(family).then(
        (l) => {
          f.filling--;
          if (this.closed || f.idle.length + f.leased >= this.opts.size) this.drop(l);
          else f.idle.push(l);
        },
        () => { f.filling--; },
      );
    }
  }

  private async open(family: Family): Promise<Lease> {
    let lease: Lease | undefined;
    const sock = DgramAsPromised.createSocket({ type: family }, (msg, rinfo) => {
      if (lease?.onMessage) lease.onMessage(msg, rinfo);
      else this.stats.strays++;
    });
    try {
      // exclusive: in a cluster worker a shared bind would go through the primary process (server.workers).
      const addr = await sock.bind({ port: 0, exclusive: true });
      sock.socket.unref();
      lease = { socket: sock.socket, owner: sock, port: addr.port, uses: 0, onMessage: undefined };
      this.stats.opened++;
      return lease;
    } catch (e) {
      sock.close().catch(() => undefined);
      throw e;
    }
  }

  private drop(lease: Lease): void {
    this.stats.closed++;
    lease.owner.close().catch(() => undefined);
  }
}
