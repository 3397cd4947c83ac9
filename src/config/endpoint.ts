import { isIP } from 'node:net';

export interface Endpoint {
  address: string;
  port: number;
  family: 4 | 6;
}

/** "ADDRESS", "ADDRESS:PORT", "[IPv6]" or "[IPv6]:PORT". */
export function parseEndpoint(text: string, defaultPort: number): Endpoint {
  let address = text;
  let port = defaultPort;
  const v6 = /^\[([^\]]+)\](?::([0-9]+))?$/.exec(text);
  if (v6) {
    address = v6[1]!;
    if (v6[2]) port = Number(v6[2]);
  } else if (isIP(text) !== 6) {
    const i = text.lastIndexOf(':');
    if (i >= 0) {
      address = text.slice(0, i);
      port = Number(text.slice(i + 1));
    }
  }
  const family = isIP(address);
  if (family === 0) throw new Error(`${JSON.stringify(text)}: not an IP address`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`${JSON.stringify(text)}: bad port`);
  return { address, port, family: family as 4 | 6 };
}

export function formatEndpoint(e: { address: string; port: number }): string {
  return isIP(e.address) === 6 ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}
