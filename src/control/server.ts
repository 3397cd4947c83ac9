/**
 * The control channel: HTTP over a Unix socket, local only. Two locks: the
 * socket is mode 0600 in a folder of ours, and every request must carry the
 * token written (mode 0600) beside it, so a process that can reach the socket
 * by some other means still cannot act without reading a file only the
 * operator can read.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import { dirname } from 'node:path';

/** `body`: the request's JSON body, when it has one (at most 4 MiB). */
export type ControlHandler = (args: string[], body?: unknown) => Promise<unknown> | unknown;

const MAX_BODY = 4 * 1024 * 1024;

export class ControlServer {
  private server?: Server;
  private token = '';

  constructor(private readonly socketPath: string, private readonly handlers: { [command: string]: ControlHandler }) {}

  static tokenPath(socketPath: string): string {
    return socketPath + '.token';
  }

  private authorised(req: IncomingMessage): boolean {
    const given = Buffer.from((req.headers.authorization ?? '').replace(/^Bearer /, ''));
    const want = Buffer.from(this.token);
    return given.length === want.length && timingSafeEqual(given, want);
  }

  async start(): Promise<void> {
    mkdirSync(dirname(this.socketPath), { recursive: true, mode: 0o700 });
    rmSync(this.socketPath, { force: true });
    this.token = randomBytes(24).toString('base64url');
    writeFileSync(ControlServer.tokenPath(this.socketPath), this.token + '\n', { mode: 0o600 });
    const srv = createServer((req, res) => {
      const reply = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body) + '\n');
      if (!this.authorised(req)) return reply(401, { error: 'missing or wrong control token' });
      if (req.method !== 'POST') return reply(405, { error: 'POST /COMMAND' });
      const [command, ...args] = (req.url ?? '/').slice(1).split('/').map(decodeURIComponent);
      const handler = this.handlers[command ?? ''];
      if (!handler) return reply(404, { error: `unknown command ${command}`, commands: Object.keys(this.handlers) });
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_BODY) chunks.push(c);
      });
      req.on('end', () => {
        if (size > MAX_BODY) return reply(413, { error: `body larger than ${MAX_BODY} bytes` });
        let body: unknown;
        if (size > 0) {
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            return reply(400, { error: 'body is not JSON' });
          }
        }
        Promise.resolve()
          .then(() => handler(args.filter(Boolean), body))
          .then((out) => reply(200, out ?? { ok: true }), (e: Error) => reply(500, { error: e.message }));
      });
    });
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(this.socketPath, () => resolve());
    });
    chmodSync(this.socketPath, 0o600);
    this.server = srv;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server!.close(() => r()));
    rmSync(this.socketPath, { force: true });
    rmSync(ControlServer.tokenPath(this.socketPath), { force: true });
  }
}
