/**
 * The lab's scenarios as a table (shared by the integration, dig and interop
 * tests), a Verdict started against a set of root hints, and answers reduced
 * to comparable lines (no TTL, canonical case, sorted).
 */
import { parseConfigText } from '../../src/config/load.js';
import { Type, typeFromText, typeToText } from '../../src/dns/constants.js';
import type { Message, Record } from '../../src/dns/message.js';
import { nameToText } from '../../src/dns/name.js';
import { rdataToText } from '../../src/dns/rdata.js';
import type { RootHint } from '../../src/resolver/iterator/iterator.js';
import { Verdict } from '../../src/resolver/verdict.js';

export interface LabCase {
  /** What the case shows (the edge case's name). */
  title: string;
  qname: string;
  qtype: string;
  rcode: 'NOERROR' | 'NXDOMAIN';
  /** Expected answer section, as `record()` prints it. */
  answers: string[];
  /** Owner of the SOA expected in the authority section (negative answers). */
  soa?: string;
  /** Lab servers that behave badly, to be preferred first so the case really meets them. */
  badServers?: string[];
  /** Too large for UDP (TC over UDP, whole over TCP). */
  big?: boolean;
}

const BIG_TXT = [1, 2, 3, 4, 5, 6].map((i) => {
  const s = `bigtxt part ${i} of 6: an answer too large for a UDP reply of 1232 bytes `.repeat(4).slice(0, 240);
  return `bigtxt.example.com. TXT "${s}"`;
});

export const LAB_CASES: LabCase[] = [
  { title: 'referral chain root -> com -> example.com', qname: 'www.example.com.', qtype: 'A', rcode: 'NOERROR', answers: ['www.example.com. A 192.0.2.10'] },
  { title: 'AAAA', qname: 'www.example.com.', qtype: 'AAAA', rcode: 'NOERROR', answers: ['www.example.com. AAAA 2001:db8::10'] },
  { title: 'MX', qname: 'example.com.', qtype: 'MX', rcode: 'NOERROR', answers: ['example.com. MX 10 mail.example.com.', 'example.com. MX 20 mail2.example.org.'] },
  { title: 'TXT', qname: 'example.com.', qtype: 'TXT', rcode: 'NOERROR', answers: ['example.com. TXT "v=spf1 mx -all"', 'example.com. TXT "verdict lab: example.com"'] },
  { title: 'CNAME inside a zone', qname: 'alias.example.com.', qtype: 'A', rcode: 'NOERROR', answers: ['alias.example.com. CNAME www.example.com.', 'www.example.com. A 192.0.2.10'] },
  {
    title: 'cross-zone CNAME chain (3 zones, 3 servers)', qname: 'chain.example.com.', qtype: 'A', rcode: 'NOERROR',
    answers: ['chain.example.com. CNAME www.example.org.', 'www.example.org. CNAME edge.cdn-lab.net.', 'edge.cdn-lab.net. A 198.51.100.80', 'edge.cdn-lab.net. A 198.51.100.81'],
  },
  {
    title: 'DNAME then a cross-zone chain', qname: 'www.legacy.example.com.', qtype: 'A', rcode: 'NOERROR',
    answers: ['legacy.example.com. DNAME example.org.', 'www.legacy.example.com. CNAME www.example.org.', 'www.example.org. CNAME edge.cdn-lab.net.', 'edge.cdn-lab.net. A 198.51.100.80', 'edge.cdn-lab.net. A 198.51.100.81'],
  },
  { title: 'CNAME into another zone that ends in NXDOMAIN', qname: 'dangling.example.com.', qtype: 'A', rcode: 'NXDOMAIN', answers: ['dangling.example.com. CNAME nothing.example.org.'], soa: 'example.org.' },
  { title: 'glueless delegation (NS name in org, no glue in com)', qname: 'www.glueless.com.', qtype: 'A', rcode: 'NOERROR', answers: ['www.glueless.com. A 192.0.2.70'] },
  { title: '2013 order: dpstream.tv (glueless from tv)', qname: 'www.dpstream.tv.', qtype: 'A', rcode: 'NOERROR', answers: ['www.dpstream.tv. A 203.0.113.10'] },
  { title: 'mirror dpstream.pw AAAA', qname: 'dpstream.pw.', qtype: 'AAAA', rcode: 'NOERROR', answers: ['dpstream.pw. AAAA 2001:db8:bad::12'] },
  { title: '2013 order: allostreaming.com (glue in com)', qname: 'www.allostreaming.com.', qtype: 'A', rcode: 'NOERROR', answers: ['www.allostreaming.com. A 198.51.100.20'] },
  { title: '2013 order: fifostreaming.org', qname: 'www.fifostreaming.org.', qtype: 'A', rcode: 'NOERROR', answers: ['www.fifostreaming.org. A 203.0.113.35'] },
  { title: 'notice host for redirects', qname: 'notice.verdict.example.', qtype: 'A', rcode: 'NOERROR', answers: ['notice.verdict.example. A 192.0.2.200'] },
  { title: 'lame server answering REFUSED', qname: 'www.lame.net.', qtype: 'A', rcode: 'NOERROR', answers: ['www.lame.net. A 192.0.2.80'], badServers: ['ns2.lame.net'] },
  { title: 'lame server answering without AA (referral to the root)', qname: 'www.lame.org.', qtype: 'A', rcode: 'NOERROR', answers: ['www.lame.org. A 192.0.2.81'], badServers: ['ns2.lame.org'] },
  { title: 'dead server, then the live one', qname: 'www.dead.com.', qtype: 'A', rcode: 'NOERROR', answers: ['www.dead.com. A 192.0.2.90'], badServers: ['ns1.dead.com'] },
  { title: 'answer too large for UDP (TC, then TCP)', qname: 'bigtxt.example.com.', qtype: 'TXT', rcode: 'NOERROR', answers: BIG_TXT, big: true },
  { title: 'wildcard', qname: 'anything.wild.example.com.', qtype: 'A', rcode: 'NOERROR', answers: ['anything.wild.example.com. A 192.0.2.50'] },
  { title: 'wildcard, two labels below', qname: 'a.b.wild.example.com.', qtype: 'TXT', rcode: 'NOERROR', answers: ['a.b.wild.example.com. TXT "synthesised from *.wild.example.com"'] },
  { title: 'wildcard does not cover an existing name', qname: 'exists.wild.example.com.', qtype: 'TXT', rcode: 'NOERROR', answers: [], soa: 'example.com.' },
  { title: 'wildcard NODATA', qname: 'anything.wild.example.com.', qtype: 'MX', rcode: 'NOERROR', answers: [], soa: 'example.com.' },
  { title: 'NXDOMAIN in a domain', qname: 'nonexistent.example.com.', qtype: 'A', rcode: 'NXDOMAIN', answers: [], soa: 'example.com.' },
  { title: 'NXDOMAIN in a TLD', qname: 'no-such-domain.com.', qtype: 'A', rcode: 'NXDOMAIN', answers: [], soa: 'com.' },
  { title: 'NXDOMAIN at the root', qname: 'www.no-such-tld.', qtype: 'A', rcode: 'NXDOMAIN', answers: [], soa: '.' },
  { title: 'NODATA', qname: 'v4only.example.com.', qtype: 'AAAA', rcode: 'NOERROR', answers: [], soa: 'example.com.' },
  { title: 'NODATA at an empty non-terminal', qname: 'b.ent.example.com.', qtype: 'A', rcode: 'NOERROR', answers: [], soa: 'example.com.' },
  { title: 'data below empty non-terminals', qname: 'a.b.ent.example.com.', qtype: 'A', rcode: 'NOERROR', answers: ['a.b.ent.example.com. A 192.0.2.60'] },
  { title: 'unknown RR type passed through (RFC 3597)', qname: 'unknown.example.com.', qtype: 'TYPE65400', rcode: 'NOERROR', answers: ['unknown.example.com. TYPE65400 \\# 6 766572646963'] },
];

export function qtypeOf(c: LabCase): number {
  const t = typeFromText(c.qtype);
  if (t === undefined) throw new Error(`unknown type ${c.qtype}`);
  return t;
}

/** "owner TYPE rdata": no TTL, no class; names lowercased (TXT strings kept). */
export function record(r: Record): string {
  const data = rdataToText(r.type, r.rdata);
  return `${nameToText(r.name).toLowerCase()} ${typeToText(r.type)} ${r.type === Type.TXT ? data : data.toLowerCase()}`;
}

/** The answer section as sorted lines. */
export function answerLines(m: Message): string[] {
  return m.answers.map(record).sort();
}

/** Owners of the SOA records in the authority section. */
export function soaOwners(m: Message): string[] {
  return m.authorities.filter((r) => r.type === Type.SOA).map((r) => nameToText(r.name).toLowerCase());
}

export const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

export interface VerdictOnLab {
  verdict: Verdict;
  port: number;
  /** Forget every answer, record and negative entry (the next query resolves again). */
  flush(): void;
  /** Make these addresses the first choice of server selection (to meet a bad server on purpose). */
  prefer(addresses: string[]): void;
  stop(): Promise<void>;
}

/** The signed lab root's DS: the trust anchor of every Verdict on the lab (DNSSEC validation on, as by default). */
export const LAB_ANCHOR_YAML = 'dnssec: { trust_anchor_file: lab/keys/root.ds }';

/** A Verdict on 127.0.0.1 (a port of the kernel's choice) resolving from `rootHints`, validating from the lab's anchor. */
export async function startVerdict(rootHints: RootHint[], resolverYaml = 'upstream_timeout_ms: 400', dnssecYaml = LAB_ANCHOR_YAML): Promise<VerdictOnLab> {
  const text = `server: { listen: ["127.0.0.1:0"], allow: ["127.0.0.0/8"] }\nresolver: { ${resolverYaml} }\nlog: { level: silent }\ncontrol: { enabled: false }\n${dnssecYaml}\n`;
  const verdict = new Verdict({ config: parseConfigText(text, 'lab-test.yaml'), file: 'lab-test.yaml', baseDir: '.' }, { rootHints });
  await verdict.start();
  const port = verdict.server.addresses.find((a) => a.transport === 'udp')!.port;
  return {
    verdict,
    port,
    flush: () => {
      verdict.cache.flush();
      verdict.answers.clear();
    },
    prefer: (addresses) => {
      for (const a of addresses) for (let i = 0; i < 40; i++) verdict.iterator.sel.recordRtt(a, 0);
    },
    stop: () => verdict.stop(),
  };
}

/** dig without blocking the event loop (a Verdict runs in this same process). */
export { digAsync } from './dig.js';
