/** `verdict ctl COMMAND [ARG]`: one request to the control socket, with the token read from beside it. */
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { ControlServer } from './server.js';

export function controlRequest(socketPath: string, command: string, args: string[] = [], token?: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  let tok = token;
  if (tok === undefined) {
    try {
      tok = readFileSync(ControlServer.tokenPath(socketPath), 'utf8').trim();
    } catch (e) {
      return Promise.reject(new Error(`cannot read the control token: ${(e as Error).message}`));
    }
  }
  const path = '/' + [command, ...args].map(encodeURIComponent).join('/');
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: { [h: string]: string } = { authorization: `Bearer ${tok}` };
    if (payload) headers['content-type'] = 'application/json';
    const req = request({ socketPath, path, method: 'POST', headers, timeout: 30_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
        } catch {
          resolve({ status: res.statusCode ?? 0, body: text });
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('control request timed out')));
    req.on('error', (e) => reject(new Error(`cannot reach the control socket ${socketPath}: ${e.message}`)));
    req.end(payload);
  });
}
