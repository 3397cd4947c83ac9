/** The locally served names the tests ask (issue 18), with what Verdict and Unbound 1.17 answer. */
import { Type } from '../../src/dns/constants.js';
import type { Message } from '../../src/dns/message.js';
import { nameToText } from '../../src/dns/name.js';

export interface LocalCase {
  qname: string;
  qtype: keyof typeof Type;
  rcode: 'NOERROR' | 'NXDOMAIN';
  answers: string[];
  /** Owner of the SOA in the authority section (negative answers). */
  soa?: string;
}

const IP6_LOOPBACK = '1.' + '0.'.repeat(31) + 'ip6.arpa.';

/** Every family, its apex and a name below it; what Unbound 1.17 answers too (local-zones-unbound-diff.test.ts). */
export const LOCAL_CASES: LocalCase[] = [
  { qname: '3.2.1.10.in-addr.arpa.', qtype: 'PTR', rcode: 'NXDOMAIN', answers: [], soa: '10.in-addr.arpa.' },
  { qname: '10.in-addr.arpa.', qtype: 'SOA', rcode: 'NOERROR', answers: ['10.in-addr.arpa. SOA localhost. nobody.invalid. 1 3600 1200 604800 10800'] },
  { qname: '10.in-addr.arpa.', qtype: 'NS', rcode: 'NOERROR', answers: ['10.in-addr.arpa. NS localhost.'] },
  { qname: '10.in-addr.arpa.', qtype: 'A', rcode: 'NOERROR', answers: [], soa: '10.in-addr.arpa.' },
  { qname: '9.9.20.172.in-addr.arpa.', qtype: 'PTR', rcode: 'NXDOMAIN', answers: [], soa: '20.172.in-addr.arpa.' },
  { qname: '1.1.168.192.in-addr.arpa.', qtype: 'PTR', rcode: 'NXDOMAIN', answers: [], soa: '168.192.in-addr.arpa.' },
  { qname: '7.7.100.100.in-addr.arpa.', qtype: 'PTR', rcode: 'NXDOMAIN', answers: [], soa: '100.100.in-addr.arpa.' },
  { qname: '1.1.254.169.in-addr.arpa.', qtype: 'PTR', rcode: 'NXDOMAIN', answers: [], soa: '254.169.in-addr.arpa.' },
  { qname: '5.2.0.192.in-addr.arpa.', qtype: 'PTR', rcode: 'NXDOMAIN', answers: [], soa: '2.0.192.in-addr.arpa.' },
  { qname: '5.100.51.198.in-addr.arpa.', qtype: 'PTR', rcode: 'NXDOMAIN', answers: [], soa: '100.51.198.in-addr.arpa.' },
  { qname: '5.113.0.203.in-addr.arpa.', qtype: 'PTR', rcode: 'NXDOMAIN', answers: [], soa: '113.0.203.in-addr.arpa.' },
  { qname: '1.0.0.0.in-addr.arpa.', qtype: 'PTR', rcode: 'NXDOMAIN', answers: [], soa: '0.in-addr.arpa.' },
  { qname: '255.255.255.255.in-addr.arpa.', qtype: 'PTR', rcode: 'NOERROR', answers: [], soa: '255.255.255.255.in-addr.arpa.' },
  { qname: '1.0.0.127.in-addr.arpa.', qtype: 'PTR', rcode: 'NOERROR', answers: ['1.0.0.127.in-addr.arpa. PTR localhost.'] },
  { qname: '2.0.0.127.in-addr.arpa.', qtype: 'PTR', rcode: 'NXDOMAIN', answers: [], soa: '127.in-addr.arpa.' },
  { qname: IP6_LOOPBACK, qtype: 'PTR', rcode: 'NOERROR', answers: [`${IP6_LOOPBACK} PTR localhost.`] },
  { qname: 'a.b.c.d.d.f.ip6.arpa.', qtype: 'PTR', rcode: 'NXDOMAIN', answers: [], soa: 'd.f.ip6.arpa.' },
  { qname: '1.0.8.e.f.ip6.arpa.', qtype: 'PTR', rcode: 'NXDOMAIN', answers: [], soa: '8.e.f.ip6.arpa.' },
  { qname: '2.b.e.f.ip6.arpa.', qtype: 'PTR', rcode: 'NXDOMAIN', answers: [], soa: 'b.e.f.ip6.arpa.' },
  { qname: 'x.8.b.d.0.1.0.0.2.ip6.arpa.', qtype: 'PTR', rcode: 'NXDOMAIN', answers: [], soa: '8.b.d.0.1.0.0.2.ip6.arpa.' },
  { qname: 'localhost.', qtype: 'A', rcode: 'NOERROR', answers: ['localhost. A 127.0.0.1'] },
  { qname: 'localhost.', qtype: 'AAAA', rcode: 'NOERROR', answers: ['localhost. AAAA ::1'] },
  { qname: 'localhost.', qtype: 'MX', rcode: 'NOERROR', answers: [], soa: 'localhost.' },
  { qname: 'www.localhost.', qtype: 'A', rcode: 'NOERROR', answers: ['www.localhost. A 127.0.0.1'] },
  { qname: 'www.localhost.', qtype: 'AAAA', rcode: 'NOERROR', answers: ['www.localhost. AAAA ::1'] },
  { qname: 'www.localhost.', qtype: 'TXT', rcode: 'NOERROR', answers: [], soa: 'localhost.' },
  { qname: 'foo.invalid.', qtype: 'A', rcode: 'NXDOMAIN', answers: [], soa: 'invalid.' },
  { qname: 'invalid.', qtype: 'SOA', rcode: 'NOERROR', answers: ['invalid. SOA localhost. nobody.invalid. 1 3600 1200 604800 10800'] },
  { qname: 'foo.test.', qtype: 'A', rcode: 'NXDOMAIN', answers: [], soa: 'test.' },
  { qname: 'duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion.', qtype: 'A', rcode: 'NXDOMAIN', answers: [], soa: 'onion.' },
  { qname: 'onion.', qtype: 'A', rcode: 'NOERROR', answers: [], soa: 'onion.' },
  { qname: 'printer.home.arpa.', qtype: 'A', rcode: 'NXDOMAIN', answers: [], soa: 'home.arpa.' },
  { qname: 'home.arpa.', qtype: 'SOA', rcode: 'NOERROR', answers: ['home.arpa. SOA localhost. nobody.invalid. 1 3600 1200 604800 10800'] },
];

export function soaOwner(m: Message): string | undefined {
  const s = m.authorities.find((r) => r.type === Type.SOA);
  return s ? nameToText(s.name).toLowerCase() : undefined;
}
