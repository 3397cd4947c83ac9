/**
 * Client addresses in logs. Off by default; `truncated` keeps the network a
 * customer is in, not the customer: IPv4 to /24, IPv6 to /56 (the common
 * per-customer delegation, RIPE-690), as operators do for privacy.
 */
import { isIPv4 } from 'node:net';
import { ipToBytes } from './acl.js';

export function logAddress(address: string, mode: 'none' | 'truncated' | 'full'): string | undefined {
  if (mode === 'none') return undefined;
  if (mode === 'full') return address;
  const v4 = address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
  if (isIPv4(v4)) return v4.split('.').slice(0, 3).join('.') + '.0/24';
  const b = ipToBytes(v4);
  if (!b) return undefined;
  const groups: string[] = [];
  for (let i = 0; i < 8; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return `${groups.slice(0, 3).join(':')}:${(b[6]! << 8).toString(16)}::/56`;
}
