/** The one request context every pipeline stage reads and writes (STYLE.md lesson 2). */
import type { Message } from '../dns/message.js';
import type { Resolved } from './iterator/iterator.js';

/** How the message is framed: a datagram, or a stream with no size limit (TCP, and DoT/DoH over it). */
export type TransportKind = 'udp' | 'tcp';

/** The listener a query came through (metrics, logs): DoT and DoH are 'tcp' for every size and rate rule. */
export type Channel = TransportKind | 'dot' | 'doh';

export interface RequestContext {
  raw: Buffer;
  client: { address: string; port: number };
  transport: TransportKind;
  /** Set for DoT (RFC 7858) and DoH (RFC 8484) queries, whose `transport` is 'tcp'; absent: `transport`. */
  channel?: Channel;
  /** performance.now() at arrival. */
  started: number;
  query?: Message;
  /** Largest reply we may send over this transport. */
  maxSize: number;
  /** Set by the resolve stage. */
  resolved?: Resolved;
  /** The reply being built; the respond stage encodes it. */
  response?: Message;
  /** Ready wire reply (fast paths and errors skip encoding). */
  wire?: Buffer;
  /** Further messages after `wire`, TCP only (zone transfers, RFC 5936 2.2). */
  moreWires?: Buffer[];
  /** Stage annotations (policy hits, cache) for logs and metrics. */
  notes: { [k: string]: unknown };
}

/** What a stage decided: go on, the reply is ready, or say nothing. */
export type StageResult = 'next' | 'answered' | 'drop';

export interface Stage {
  readonly name: string;
  /** Synchronous where it can be: only return a promise when there is real waiting to do. */
  handle(ctx: RequestContext): StageResult | Promise<StageResult>;
}
