/**
 * The encrypted listeners of one Verdict: DNS over TLS (RFC 7858) on
 * server.dot_listen and DNS over HTTPS (RFC 8484, doh.ts) on server.doh_listen,
 * with one certificate (server.tls). Both feed the same DnsServer as UDP and
 * TCP do, so the fast path and every pipeline stage (ACL, rate limit, RPZ and
 * orders, mirror watch, metrics, logs) apply unchanged; only the channel
 * ('dot', 'doh') differs, for metrics and logs.
 *
 * DoT: TLS 1.2 or 1.3, ALPN "dot" (RFC 7858 3.2, IANA), then exactly TCP's
 * framing, pipelining and out-of-order answers (DnsServer.acceptStream), idle
 * timeout and in-flight cap; padded answers to padded queries (RFC 8467).
 * Session resumption: TLS 1.3 tickets and TLS 1.2 tickets, under keys shared
 * by every listener of the process (and by every cluster worker, given by the
 * primary), so a client resumes wherever its connection lands.
 *
 * Certificates are replaced on reload (setSecureContext): new handshakes use
 * the new pair, open connections keep going; a pair that fails its checks
 * changes nothing.
 */
import { randomBytes } from 'node:crypto';
import { createServer as createTlsServer } from 'node:tls';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { parseEndpoint } from '../../config/endpoint.js';
import type { Endpoint } from '../../config/endpoint.js';
import type { LoadedConfig } from '../../config/load.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { DnsServer } from '../server.js';
import { DohListener } from './doh.js';
import { expiry, loadTlsPair } from './certs.js';
import type { TlsPair } from './certs.js';

export interface EncryptedDeps {
  server: DnsServer;
  metrics: Metrics;
  logger: Logger;
  /** 48 bytes of TLS session ticket keys (a cluster primary gives all workers the same); default: random. */
  ticketKeys?: Buffer;
}

export class EncryptedListeners {
  private readonly dot: TlsServer[] = [];
  private readonly doh: DohListener[] = [];
  private pair?: TlsPair;
  private readonly ticketKeys: Buffer;

  constructor(private loaded: LoadedConfig, private readonly deps: EncryptedDeps) {
    this.ticketKeys = deps.ticketKeys ?? randomBytes(48);
  }

  get enabled(): boolean {
    const s = this.loaded.config.server;
    return s.dot_listen.length + s.doh_listen.length > 0;
  }

  get addresses(): { address: string; port: number; transport: 'dot' | 'doh' }[] {
    const at = (s: TlsServer, transport: 'dot' | 'doh') => {
      const a = s.address() as { address: string; port: number } | null;
      return a ? [{ address: a.address, port: a.port, transport }] : [];
    };
    return [...this.dot.flatMap((s) => at(s, 'dot')), ...this.doh.flatMap((d) => at(d.server, 'doh'))];
  }

  /** Read the certificate pair (throws TlsPairError) and open every listener. */
  async start(): Promise<void> {
    if (!this.enabled) return;
    const s = this.loaded.config.server;
    const pair = this.usePair(this.loaded);
    for (const text of s.dot_listen) await this.startDot(parseEndpoint(text, 853), pair);
    for (const text of s.doh_listen) await this.startDoh(parseEndpoint(text, 443), pair);
  }

  private usePair(loaded: LoadedConfig): TlsPair {
    const pair = loadTlsPair(loaded.config.server.tls!, loaded.baseDir);
    this.pair = pair;
    this.deps.metrics.tlsCertificate = { file: pair.certFile, notAfter: pair.notAfter };
    const e = expiry(pair);
    if (e.warn) this.deps.logger.warn({ cert_file: pair.certFile, not_after: pair.notAfter.toISOString(), days_left: Math.floor(e.days) }, 'the DoT/DoH certificate expires soon: renew it, then reload');
    return pair;
  }

  private connected(socket: TLSSocket, transport: 'dot' | 'doh'): void {
    this.deps.metrics.tlsConnections.labels(transport, socket.isSessionReused() ? 'true' : 'false').inc();
  }

  private async startDot(ep: Endpoint, pair: TlsPair): Promise<void> {
    const s = this.loaded.config.server;
    const srv = createTlsServer({
      cert: pair.cert,
      key: pair.key,
      minVersion: 'TLSv1.2',
      ALPNProtocols: ['dot'],
      noDelay: true,
      handshakeTimeout: s.tls_handshake_timeout_ms,
      ticketKeys: this.ticketKeys,
    }, (socket) => {
      this.connected(socket, 'dot');
      this.deps.server.acceptStream(socket, 'dot');
    });
    srv.maxConnections = s.tcp_max_connections;
    // With a listener here, node leaves the socket open: a client that never finishes its handshake is cut here.
    srv.on('tlsClientError', (_err, socket) => {
      this.deps.metrics.tlsHandshakeFailures.labels('dot').inc();
      socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen({ port: ep.port, host: ep.address, ipv6Only: ep.family === 6 }, () => {
        srv.off('error', reject);
        resolve();
      });
    });
    this.dot.push(srv);
  }

  private async startDoh(ep: Endpoint, pair: TlsPair): Promise<void> {
    const s = this.loaded.config.server;
    const d = new DohListener({
      path: s.doh_path,
      cert: pair.cert,
      key: pair.key,
      maxStreams: s.doh_max_streams,
      maxConnections: s.tcp_max_connections,
      idleTimeoutMs: s.tcp_idle_timeout_ms,
      requestTimeoutMs: s.doh_request_timeout_ms,
      handshakeTimeoutMs: s.tls_handshake_timeout_ms,
      ticketKeys: this.ticketKeys,
      query: (raw, client, send) => this.deps.server.query(raw, client, 'doh', send),
      onStatus: (status) => this.deps.metrics.dohResponses.labels(String(status)).inc(),
      onHandshakeFailure: () => this.deps.metrics.tlsHandshakeFailures.labels('doh').inc(),
    });
    d.server.on('secureConnection', (socket: TLSSocket) => this.connected(socket, 'doh'));
    await d.listen(ep.port, ep.address, ep.family === 6);
    this.doh.push(d);
  }

  /**
   * A new config: the certificate pair is read again and, if it passes its checks, used for every
   * new handshake (open connections are untouched); throws TlsPairError otherwise, and the old pair
   * keeps serving. Listen addresses and limits take a restart.
   */
  reload(next: LoadedConfig): void {
    if (this.enabled && next.config.server.tls) {
      const pair = loadTlsPair(next.config.server.tls, next.baseDir);
      const same = this.pair && pair.cert.equals(this.pair.cert) && pair.key.equals(this.pair.key);
      this.usePair(next);
      if (!same) {
        const context = { cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' as const, ticketKeys: this.ticketKeys };
        for (const s of this.dot) s.setSecureContext(context);
        for (const d of this.doh) d.server.setSecureContext(context);
        this.deps.logger.info({ cert_file: pair.certFile, subject: pair.subject, not_after: pair.notAfter.toISOString() }, 'TLS certificate replaced');
      }
    }
    this.loaded = next;
  }

  /** Stop accepting; the DoT connections are DnsServer's (drained by its stop), DoH's are asked to close. */
  close(): void {
    for (const s of this.dot) s.close();
    for (const d of this.doh) d.close();
  }

  destroy(): void {
    for (const d of this.doh) d.destroy();
  }
}
