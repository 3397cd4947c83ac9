/**
 * The seed corpus: captured valid queries and responses (wire form, *.bin),
 * zone files (*.zone, *.rpz) and order files (*.yaml) under fuzz/corpus/.
 * `npm run fuzz -- --write-corpus` regenerates the wire files from the codec.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Class, Type } from '../src/dns/constants.js';
import { makeEdns } from '../src/dns/edns.js';
import { emptyMessage, encodeMessage, makeQuery } from '../src/dns/message.js';
import type { Message, Record } from '../src/dns/message.js';
import { nameFromText } from '../src/dns/name.js';

/** The repository root (this file runs from dist/fuzz/). */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CORPUS_DIR = join(REPO, 'fuzz', 'corpus');

export interface Corpus {
  queries: Buffer[];
  responses: Buffer[];
  zones: string[];
  orders: string[];
}

export function loadCorpus(dir = CORPUS_DIR): Corpus {
  const c: Corpus = { queries: [], responses: [], zones: [], orders: [] };
  for (const f of readdirSync(dir).sort()) {
    const p = join(dir, f);
    if (f.startsWith('query-') && f.endsWith('.bin')) c.queries.push(readFileSync(p));
    else if (f.startsWith('response-') && f.endsWith('.bin')) c.responses.push(readFileSync(p));
    else if (f.endsWith('.zone') || f.endsWith('.rpz')) c.zones.push(readFileSync(p, 'latin1'));
    else if (f.endsWith('.yaml')) c.orders.push(readFileSync(p, 'utf8'));
  }
  if (!c.queries.length || !c.responses.length || !c.zones.length || !c.orders.length) throw new Error(`incomplete corpus in ${dir}`);
  return c;
}

const n = (t: string) => nameFromText(t);
function rec(owner: string, type: number, rdata: Buffer, ttl = 300): Record {
  return { name: n(owner), type, class: Class.IN, ttl, rdata };
}
function soa(zone: string): Buffer {
  const times = Buffer.alloc(20);
  [2024010101, 3600, 600, 86400, 300].forEach((v, i) => times.writeUInt32BE(v, i * 4));
  return Buffer.concat([n('ns1.' + zone), n('hostmaster.' + zone), times]);
}
const a = (ip: string) => Buffer.from(ip.split('.').map(Number));

/** Valid messages, as a client or an authoritative server would send them. */
export function corpusMessages(): { queries: [string, Message][]; responses: [string, Message][] } {
  const edns = makeEdns(1232);
  const queries: [string, Message][] = [
    ['a', makeQuery(1, n('www.example.com.'), Type.A, { rd: true })],
    ['aaaa-edns', makeQuery(2, n('www.example.com.'), Type.AAAA, { rd: true, edns })],
    ['mx-do', makeQuery(3, n('example.com.'), Type.MX, { rd: true, edns: makeEdns(4096, true) })],
    ['txt-cd', makeQuery(4, n('_dmarc.example.com.'), Type.TXT, { rd: true, cd: true, edns })],
    ['any', makeQuery(5, n('example.com.'), Type.ANY, { rd: true })],
    ['ns-root', makeQuery(6, n('.'), Type.NS, { rd: false })],
    ['blocked', makeQuery(7, n('www.dpstream.tv.'), Type.A, { rd: true, edns })],
    ['long', makeQuery(8, n(('a'.repeat(63) + '.').repeat(3) + 'example.com.'), Type.A, { rd: true })],
    ['ptr', makeQuery(9, n('1.2.0.192.in-addr.arpa.'), Type.PTR, { rd: true })],
    ['axfr', makeQuery(10, n('court-orders.rpz.'), Type.AXFR, {})],
    ['notify', { ...makeQuery(11, n('feed.rpz.'), Type.SOA, {}), opcode: 4, aa: true }],
    ['https', makeQuery(12, n('nx.fuzz.test.'), Type.HTTPS, { rd: true, edns })],
    ['edns-opts', makeQuery(13, n('www.fuzz.test.'), Type.A, { rd: true, edns: { udpSize: 1232, version: 0, do: false, options: [{ code: 10, data: Buffer.alloc(8, 7) }, { code: 12, data: Buffer.alloc(16) }] } })],
  ];
  const q = (name: string, type: number) => [{ name: n(name), type, class: Class.IN }];
  const resp = (init: Partial<Message>) => emptyMessage({ id: 100, qr: true, ...init });
  const responses: [string, Message][] = [
    ['answer', resp({ aa: true, questions: q('www.example.com.', Type.A), answers: [rec('www.example.com.', Type.A, a('192.0.2.1')), rec('www.example.com.', Type.A, a('192.0.2.2'))] })],
    ['referral-glue', resp({
      questions: q('www.example.com.', Type.A),
      authorities: [rec('example.com.', Type.NS, n('ns1.example.com.')), rec('example.com.', Type.NS, n('ns2.example.com.'))],
      additionals: [rec('ns1.example.com.', Type.A, a('198.51.100.3')), rec('ns2.example.com.', Type.A, a('198.51.100.4'))],
      edns: makeEdns(1232),
    })],
    ['referral-glueless', resp({ questions: q('www.glueless.com.', Type.A), authorities: [rec('glueless.com.', Type.NS, n('ns.provider.net.'))] })],
    ['nxdomain', resp({ aa: true, rcode: 3, questions: q('nope.example.com.', Type.A), authorities: [rec('example.com.', Type.SOA, soa('example.com.'))] })],
    ['nodata', resp({ aa: true, questions: q('www.example.com.', Type.AAAA), authorities: [rec('example.com.', Type.SOA, soa('example.com.'))] })],
    ['cname-chain', resp({
      aa: true, questions: q('alias.example.com.', Type.A),
      answers: [rec('alias.example.com.', Type.CNAME, n('mid.example.com.')), rec('mid.example.com.', Type.CNAME, n('www.example.com.')), rec('www.example.com.', Type.A, a('192.0.2.1'))],
    })],
    ['dname', resp({
      aa: true, questions: q('www.old.example.com.', Type.A),
      answers: [rec('old.example.com.', Type.DNAME, n('provider.net.')), rec('www.old.example.com.', Type.CNAME, n('www.provider.net.'))],
    })],
    ['mx-txt', resp({
      aa: true, questions: q('example.com.', Type.MX),
      answers: [rec('example.com.', Type.MX, Buffer.concat([Buffer.from([0, 10]), n('mail.example.com.')]))],
      additionals: [rec('mail.example.com.', Type.A, a('192.0.2.25')), rec('example.com.', Type.TXT, Buffer.from('\x0bv=spf1 -all'))],
    })],
    ['root-priming', resp({
      aa: true, questions: q('.', Type.NS),
      answers: [rec('.', Type.NS, n('a.root-servers.net.')), rec('.', Type.NS, n('b.root-servers.net.'))],
      additionals: [rec('a.root-servers.net.', Type.A, a('198.41.0.4')), rec('b.root-servers.net.', Type.AAAA, Buffer.from('20010500020000000000000000000201', 'hex'))],
      edns: makeEdns(1232, true),
    })],
    ['servfail-ede', resp({ rcode: 2, questions: q('broken.example.com.', Type.A), edns: { udpSize: 1232, version: 0, do: false, options: [{ code: 15, data: Buffer.from('\x00\x16no reachable', 'latin1') }] } })],
    ['srv-soa', resp({
      aa: true, questions: q('_sip._udp.example.com.', Type.SRV),
      answers: [rec('_sip._udp.example.com.', Type.SRV, Buffer.concat([Buffer.from([0, 1, 0, 2, 0x13, 0xc4]), n('sip.example.com.')]))],
      authorities: [rec('example.com.', Type.NS, n('ns1.example.com.'))],
    })],
  ];
  return { queries, responses };
}

/** Write the wire corpus (the text corpus is kept by hand, copied from fixtures and config). */
export function writeCorpus(dir = CORPUS_DIR): number {
  mkdirSync(dir, { recursive: true });
  const { queries, responses } = corpusMessages();
  for (const [name, m] of queries) writeFileSync(join(dir, `query-${name}.bin`), encodeMessage(m));
  for (const [name, m] of responses) writeFileSync(join(dir, `response-${name}.bin`), encodeMessage(m));
  return queries.length + responses.length;
}
