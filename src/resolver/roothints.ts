/** Root hints: the IANA root servers built in, or a named.root-format file (RFC 8109). */
import { readFileSync } from 'node:fs';
import { Type } from '../dns/constants.js';
import type { Record } from '../dns/message.js';
import { nameKey, nameToText } from '../dns/name.js';
import type { Name } from '../dns/name.js';
import { parseZoneString } from '../rpz/masterfile.js';
import { rdataToIp } from './iterator/iterator.js';
import type { RootHint } from './iterator/iterator.js';

/** IANA root servers (root-servers.org; b.root changed its addresses in 2023). */
export const IANA_ROOT_HINTS: RootHint[] = [
  ['a', '198.41.0.4', '2001:503:ba3e::2:30'],
  ['b', '170.247.170.2', '2801:1b8:10::b'],
  ['c', '192.33.4.12', '2001:500:2::c'],
  ['d', '199.7.91.13', '2001:500:2d::d'],
  ['e', '192.203.230.10', '2001:500:a8::e'],
  ['f', '192.5.5.241', '2001:500:2f::f'],
  ['g', '192.112.36.4', '2001:500:12::d0d'],
  ['h', '198.97.190.53', '2001:500:1::53'],
  ['i', '192.36.148.17', '2001:7fe::53'],
  ['j', '192.58.128.30', '2001:503:c27::2:30'],
  ['k', '193.0.14.129', '2001:7fd::1'],
  ['l', '199.7.83.42', '2001:500:9f::42'],
  ['m', '202.12.27.33', '2001:dc3::35'],
].flatMap(([l, v4, v6]) => [
  { name: `${l}.root-servers.net`, address: v4! },
  { name: `${l}.root-servers.net`, address: v6! },
]);

/**
 * Read a named.root-format file: the NS records of "." name the servers, their
 * A/AAAA records give the addresses. Errors carry file:line:col.
 */
export function rootHintsFromFile(path: string): RootHint[] {
  const ns = new Set<string>();
  const addrs: { name: Name; address: string }[] = [];
  readHintRecords(path, (rr) => {
    if (rr.type === Type.NS && rr.name.length === 1) ns.add(nameKey(rr.rdata));
    else if (rr.type === Type.A || rr.type === Type.AAAA) addrs.push({ name: rr.name, address: rdataToIp(rr) });
  });
  const hints = addrs.filter((a) => ns.has(nameKey(a.name))).map((a) => ({ name: nameToText(a.name), address: a.address }));
  if (hints.length === 0) throw new Error(`${path}: no root server with an address (expected ". NS name" and "name A address" records)`);
  return hints;
}

function readHintRecords(path: string, onRecord: (rr: Record) => void): void {
  parseZoneString(readFileSync(path, 'latin1'), onRecord, { file: path });
}
