/**
 * The metrics endpoint: /metrics (Prometheus text), /healthz (process up), /readyz (policy loaded, listening),
 * and extra pages when configured (/transparency and /transparency.json with `metrics.transparency`).
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { Endpoint } from '../config/endpoint.js';

/** What /metrics serves: one process's registry (`Metrics`), or a cluster primary's aggregate of its workers. */
export interface Exposition {
  registry: { metrics(): Promise<string>; readonly contentType: string };
}

export interface Readiness {
  ready(): { ready: boolean; reason?: string };
}

/** An extra page: its content type and body, built per request. */
export type Page = () => Promise<{ type: string; body: string }>;

export class MetricsServer {
  server?: Server;

  constructor(
    private readonly metrics: Exposition,
    private readonly readiness: Readiness,
    private readonly beforeScrape: () => void = () => undefined,
    private readonly pages: Readonly<Record<string, Page>> = {},
  ) {}

  async start(ep: Endpoint): Promise<{ address: string; port: number }> {
    const srv = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405).end();
        return;
      }
      if (path === '/metrics') {
        this.beforeScrape();
        this.metrics.registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': this.metrics.registry.contentType }).end(text),
          (e: Error) => res.writeHead(500).end(e.message),
        );
      } else if (path === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      } else if (path === '/readyz') {
        const r = this.readiness.ready();
        res.writeHead(r.ready ? 200 : 503, { 'content-type': 'text/plain' }).end(r.ready ? 'ready\n' : `not ready: ${r.reason ?? ''}\n`);
      } else if (path !== undefined && Object.prototype.hasOwnProperty.call(this.pages, path)) {
        this.pages[path]!().then(
          (p) => res.writeHead(200, { 'content-type': p.type, 'cache-control': 'no-cache' }).end(req.method === 'HEAD' ? undefined : p.body),
          (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e.message}\n`),
        );
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(ep.port, ep.address, () => resolve());
    });
    this.server = srv;
    return srv.address() as { address: string; port: number };
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server!.close(() => r()));
  }
}
