import assert from 'node:assert/strict';
import { test } from 'node:test';
import packet from 'dns-packet';
import { Type, typeFromText } from '../src/dns/constants.js';
import { NameError, ROOT, nameFromText, nameToText } from '../src/dns/name.js';
import {
  RdataError, Token, nameFromZoneText, rdataFromTokens, rdataToText, recordToText, sigTimeFromText, sigTimeToText, ttlFromText,
} from '../src/dns/rdata.js';
import { nsec3Hash } from '../src/dnssec/records.js';

const T = { timeout: 10_000 };
const origin = nameFromText('example.com.');

/** Tokens as the zone reader makes them: words split on blanks, "quoted strings" without quotes. */
function tokens(text: string): Token[] {
  const out: Token[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|((?:[^\s"\\]|\\.)+)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    out.push({ text: m[1] ?? m[2]!, quoted: m[1] !== undefined, line: 1, column: m.index + 1 });
  }
  return out;
}

function parse(type: string, text: string, o = origin): Buffer {
  const t = typeFromText(type);
  assert.ok(t !== undefined, type);
  return rdataFromTokens(t, tokens(text), o);
}

function rejects(type: string, text: string, index: number, reason: RegExp): void {
  assert.throws(() => parse(type, text), (e: unknown) => {
    assert.ok(e instanceof RdataError, String(e));
    assert.equal(e.code, 'VERDICT_ERR_RDATA');
    assert.match(e.message, reason);
    assert.equal(e.index, index, `index for ${type} ${text}: ${e.message}`);
    return true;
  });
}

// dns-packet's codecs write a 2-byte RDLENGTH first.
const body = (b: Buffer): Buffer => b.subarray(2);
type Enc = { encode(d: unknown): Buffer };
const dp = packet as unknown as { [type: string]: Enc };

// RFC 5702 6.1's RRSIG (2030-01-01 and 2000-01-01 are 0x70dbd880 and 0x386d4380 seconds).
const rsaSig = 'kRCOH6u7l0QGy9qpC9l1sLncJcOKFLJ7GhiUOibu4teYp5VE9RncriShZNz85mwlMgNEacFYK/lPtPiVYP4bwg==';
const rsaSigWire = '0001' + '08' + '03' + '00000e10' + '70dbd880' + '386d4380' + '2349' + '076578616d706c65036e657400' +
  Buffer.from(rsaSig, 'base64').toString('hex');
// RFC 5155 appendix A: H(ns1.example) = 2t7b4g4vsa5smi47k61mv5bv1a22bojr (salt aabbccdd, 12 iterations).
const ns1Hash = nsec3Hash(nameFromText('ns1.example.'), Buffer.from('aabbccdd', 'hex'), 12).toString('hex');

// [type, presentation in, wire hex or dns-packet reference, canonical presentation out]
const cases: [string, string, string | Buffer, string][] = [
  ['A', '192.0.2.1', 'c0000201', '192.0.2.1'],
  ['AAAA', '2001:DB8:0:0:1::1', '20010db8000000000001000000000001', '2001:db8::1:0:0:1'],
  ['AAAA', '::ffff:192.0.2.1', '00000000000000000000ffffc0000201', '::ffff:192.0.2.1'],
  ['NS', 'ns1', body(dp.ns!.encode('ns1.example.com')), 'ns1.example.com.'],
  ['CNAME', '.', '00', '.'],
  ['CNAME', '*.', '012a00', '*.'],
  ['CNAME', 'rpz-passthru.', body(dp.cname!.encode('rpz-passthru')), 'rpz-passthru.'],
  ['DNAME', 'example.net.', body(dp.dname!.encode('example.net')), 'example.net.'],
  ['PTR', 'host.example.', body(dp.ptr!.encode('host.example')), 'host.example.'],
  ['SOA', 'ns1 hostmaster.example.com. 2024010101 1h 15m 1w 1d',
    body(dp.soa!.encode({ mname: 'ns1.example.com', rname: 'hostmaster.example.com', serial: 2024010101, refresh: 3600, retry: 900, expire: 604800, minimum: 86400 })),
    'ns1.example.com. hostmaster.example.com. 2024010101 3600 900 604800 86400'],
  ['MX', '10 mail', body(dp.mx!.encode({ preference: 10, exchange: 'mail.example.com' })), '10 mail.example.com.'],
  ['TXT', '"v=spf1 -all" second', body(dp.txt!.encode(['v=spf1 -all', 'second'])), '"v=spf1 -all" "second"'],
  ['TXT', '"a \\"quoted\\" \\\\ word" \\065\\066C "\\000\\255"', '11' + Buffer.from('a "quoted" \\ word').toString('hex') + '03414243' + '0200ff',
    '"a \\"quoted\\" \\\\ word" "ABC" "\\000\\255"'],
  ['TXT', '""', '00', '""'],
  ['SPF', '"v=spf1 -all"', body(dp.txt!.encode(['v=spf1 -all'])), '"v=spf1 -all"'],
  ['SRV', '0 5 5060 sip.example.com.', body(dp.srv!.encode({ priority: 0, weight: 5, port: 5060, target: 'sip.example.com' })), '0 5 5060 sip.example.com.'],
  ['CAA', '0 issue "letsencrypt.org"', body(dp.caa!.encode({ flags: 0, tag: 'issue', value: 'letsencrypt.org' })), '0 issue "letsencrypt.org"'],
  ['CAA', '128 iodef mailto:security@example.com', body(dp.caa!.encode({ flags: 128, tag: 'iodef', value: 'mailto:security@example.com' })),
    '128 iodef "mailto:security@example.com"'],
  ['HINFO', '"INTEL-386" Linux', body(dp.hinfo!.encode({ cpu: 'INTEL-386', os: 'Linux' })), '"INTEL-386" "Linux"'],
  ['NAPTR', '100 10 "U" "E2U+sip" "!^.*$!sip:info@example.com!" .',
    body(dp.naptr!.encode({ order: 100, preference: 10, flags: 'U', services: 'E2U+sip', regexp: '!^.*$!sip:info@example.com!', replacement: '.' })),
    '100 10 "U" "E2U+sip" "!^.*$!sip:info@example.com!" .'],
  ['DS', '60485 5 1 2BB183AF5F22588179A53B0A 98631FAD1A292118',
    body(dp.ds!.encode({ keyTag: 60485, algorithm: 5, digestType: 1, digest: Buffer.from('2BB183AF5F22588179A53B0A98631FAD1A292118', 'hex') })),
    '60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118'],
  ['DS', '2371 ECDSAP256SHA256 2 1f987cc6583e92df0890718c42' + '0'.repeat(38),
    '09430d02' + '1f987cc6583e92df0890718c42' + '0'.repeat(38), '2371 13 2 1F987CC6583E92DF0890718C42' + '0'.repeat(38)],
  ['SSHFP', '2 1 123456789abcdef67890123456789abcdef67890', '0201123456789abcdef67890123456789abcdef67890',
    '2 1 123456789ABCDEF67890123456789ABCDEF67890'],
  ['TLSA', '3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6',
    body(dp.tlsa!.encode({ usage: 3, selector: 1, matchingType: 1, certificate: Buffer.from('0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6', 'hex') })),
    '3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6'],
  ['DNSKEY', '257 3 8 AwEA AQ==', '01010308' + Buffer.from('AwEAAQ==', 'base64').toString('hex'), '257 3 8 AwEAAQ=='],
  ['RP', 'admin.example.com. .', '0561646d696e076578616d706c6503636f6d0000', 'admin.example.com. .'],
  ['RRSIG', `A RSASHA256 3 1h 20300101000000 20000101000000 9033 example.net. ${rsaSig.slice(0, 30)} ${rsaSig.slice(30)}`, rsaSigWire,
    `A 8 3 3600 20300101000000 20000101000000 9033 example.net. ${rsaSig}`],
  ['RRSIG', `A 8 3 3600 1893456000 946684800 9033 example.net. ${rsaSig}`, rsaSigWire,
    `A 8 3 3600 20300101000000 20000101000000 9033 example.net. ${rsaSig}`],
  ['RRSIG', 'TYPE65534 13 0 0 0 0 0 . AAAA', 'fffe0d00' + '00'.repeat(14) + '00' + '000000',
    'TYPE65534 13 0 0 19700101000000 19700101000000 0 . AAAA'],
  // RFC 4034 4.3's example, wire bytes as printed there.
  ['NSEC', 'host A MX RRSIG NSEC TYPE1234', '04686f7374076578616d706c6503636f6d00' + '0006400100000003' + '041b' + '00'.repeat(26) + '20',
    'host.example.com. A MX RRSIG NSEC TYPE1234'],
  ['NSEC', 'next.example. NSEC a', '046e657874076578616d706c6500' + '0006' + '4000000000' + '01',
    'next.example. A NSEC'],
  ['NSEC', 'next.example.', '046e657874076578616d706c6500', 'next.example.'],
  // RFC 5155 appendix A: the NSEC3 of the apex, and its NSEC3PARAM.
  ['NSEC3', '1 1 12 aabbccdd 2t7b4g4vsa5smi47k61mv5bv1a22bojr MX DNSKEY NS SOA NSEC3PARAM RRSIG',
    '0101000c04aabbccdd14' + ns1Hash + '0007220100000002' + '90',
    '1 1 12 AABBCCDD 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR NS SOA MX RRSIG DNSKEY NSEC3PARAM'],
  ['NSEC3', '1 0 0 - 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR', '0100000000' + '14' + ns1Hash, '1 0 0 - 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR'],
  ['NSEC3PARAM', '1 0 12 aabbccdd', '0100000c04aabbccdd', '1 0 12 AABBCCDD'],
  ['NSEC3PARAM', '1 0 0 -', '0100000000', '1 0 0 -'],
  ['CDS', '60485 5 1 2BB183AF5F22588179A53B0A 98631FAD1A292118', 'ec450501' + '2bb183af5f22588179a53b0a98631fad1a292118',
    '60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118'],
  // RFC 8078 4: the CDS and CDNSKEY that ask the parent to remove the DS RRset.
  ['CDS', '0 0 0 00', '0000000000', '0 0 0 00'],
  ['CDNSKEY', '0 3 0 AA==', '0000030000', '0 3 0 AA=='],
  ['CDNSKEY', '257 3 ECDSAP256SHA256 AwEAAQ==', '0101030d' + Buffer.from('AwEAAQ==', 'base64').toString('hex'), '257 3 13 AwEAAQ=='],
];

test('every supported type reads to the right wire bytes and prints back to the same wire bytes', T, () => {
  for (const [type, text, wire, canonical] of cases) {
    const rd = parse(type, text);
    const want = typeof wire === 'string' ? Buffer.from(wire, 'hex') : wire;
    assert.equal(rd.toString('hex'), want.toString('hex'), `${type} ${text}`);
    const t = typeFromText(type)!;
    const printed = rdataToText(t, rd);
    assert.equal(printed, canonical, `${type} prints`);
    assert.ok(rdataFromTokens(t, tokens(printed), ROOT).equals(rd), `${type} re-reads its own output`);
  }
});

test('names in RDATA keep escaped dots and high bytes (RFC 4343)', T, () => {
  const rd = parse('CNAME', 'a\\.b.\\200x');
  assert.deepEqual([...rd.subarray(0, 6)], [3, 0x61, 0x2e, 0x62, 2, 200]);
  assert.equal(rdataToText(Type.CNAME, rd), 'a\\.b.\\200x.example.com.');
  const mx = parse('MX', '5 m\\.x.example.');
  assert.equal(rdataToText(Type.MX, mx), '5 m\\.x.example.');
});

test('the fast name path agrees with nameFromText, errors included', T, () => {
  const o = nameFromText('rpz.example.');
  const samples = [
    'a', 'a.b.c', 'a.b.c.', '@', '.', '*', '*.x', 'A.b.C', 'a\\.b', '\\200.x', 'x\\065y', 'a..b', '.a', 'a.', '',
    'x'.repeat(63), 'x'.repeat(64), `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(50)}`,
    `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.`, 'caf\u00e9', 'ok\u0100',
  ];
  for (const s of samples) {
    let want: string;
    let got: string;
    try {
      want = nameFromText(s, o).toString('hex');
    } catch (e) {
      want = `error ${(e as Error).message}`;
      assert.ok(e instanceof NameError);
    }
    try {
      got = nameFromZoneText(s, o).toString('hex');
    } catch (e) {
      got = `error ${(e as Error).message}`;
    }
    assert.equal(got, want, JSON.stringify(s));
  }
  assert.equal(nameToText(nameFromZoneText('Mixed.Case', ROOT)), 'Mixed.Case.');
});

test('RFC 3597 generic RDATA works for unknown and known types alike', T, () => {
  assert.deepEqual([...parse('TYPE65534', '\\# 3 ab CD ef')], [0xab, 0xcd, 0xef]);
  assert.equal(parse('TYPE65534', '\\# 0').length, 0);
  assert.equal(rdataToText(65534, Buffer.from([1, 2])), '\\# 2 0102');
  assert.equal(rdataToText(65534, Buffer.alloc(0)), '\\# 0');
  // A known type in generic form means the same RDATA as its usual form (RFC 3597 5).
  assert.ok(parse('A', '\\# 4 C0000201').equals(parse('A', '192.0.2.1')));
  assert.ok(parse('CNAME', '\\# 1 00').equals(ROOT));
  assert.ok(parse('TXT', '\\# 4 03616263').equals(parse('TXT', 'abc')));
  // Types we have no presentation parser for still load generically and print generically.
  assert.equal(rdataToText(29, parse('LOC', '\\# 2 0000')), '\\# 2 0000');
  assert.ok(parse('NSEC', '\\# 4 00000140').equals(parse('NSEC', '. A')));
  // A DNSSEC record whose wire form does not fit its type prints generically, and is refused in generic form.
  assert.equal(rdataToText(Type.NSEC, Buffer.from('0000', 'hex')), '\\# 2 0000');
  assert.equal(rdataToText(Type.RRSIG, Buffer.from('0001', 'hex')), '\\# 2 0001');
  assert.equal(rdataToText(Type.NSEC3, Buffer.from('0100000000', 'hex')), '\\# 5 0100000000');
  assert.equal(rdataToText(Type.NSEC3PARAM, Buffer.from('0100000001', 'hex')), '\\# 5 0100000001');
  // Text that would not read back is not printed: a DS digest of the wrong size, a DNSKEY without a key.
  assert.equal(rdataToText(Type.DS, Buffer.from('0001080201', 'hex')), '\\# 5 0001080201');
  assert.equal(rdataToText(59, Buffer.from('0001080201', 'hex')), '\\# 5 0001080201');
  assert.equal(rdataToText(Type.DNSKEY, Buffer.from('01010308', 'hex')), '\\# 4 01010308');
  rejects('NSEC', '\\# 2 0000', 2, /not a valid NSEC record/);
  // Wire data that does not fit its type prints generically rather than throwing.
  assert.equal(rdataToText(Type.A, Buffer.from([1, 2, 3])), '\\# 3 010203');
  assert.equal(rdataToText(Type.CNAME, Buffer.from([5, 0x61])), '\\# 2 0561');
});

test('records print as owner TTL CLASS TYPE rdata', T, () => {
  const rr = { name: nameFromText('www.example.com.'), type: Type.A, class: 1, ttl: 300, rdata: Buffer.from([192, 0, 2, 1]) };
  assert.equal(recordToText(rr), 'www.example.com.\t300\tIN\tA\t192.0.2.1');
  assert.equal(recordToText({ ...rr, type: 65280, class: 3, rdata: Buffer.from([0xff]) }), 'www.example.com.\t300\tCH\tTYPE65280\t\\# 1 FF');
});

test('TTLs read as seconds or with BIND units', T, () => {
  assert.equal(ttlFromText('0'), 0);
  assert.equal(ttlFromText('3600'), 3600);
  assert.equal(ttlFromText('1h'), 3600);
  assert.equal(ttlFromText('1W2d3H4m5S'), 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5);
  assert.equal(ttlFromText('4294967295'), 4294967295);
  for (const bad of ['', 'h', '1x', '1h30', '-1', '1.5h', '4294967296', '1 h', '99999999w']) {
    assert.equal(ttlFromText(bad), undefined, bad);
  }
});

test('malformed RDATA names the offending token', T, () => {
  rejects('A', '192.0.2.256', 0, /bad IPv4 address '192\.0\.2\.256'/);
  rejects('A', '192.0.2', 0, /bad IPv4/);
  rejects('A', '192.0.2.01', 0, /bad IPv4/);
  rejects('A', '192.0.2.1 extra', 1, /unexpected 'extra'/);
  rejects('A', '', 0, /missing its IPv4 address/);
  rejects('A', '"192.0.2.1"', 0, /must not be quoted/);
  rejects('AAAA', 'fe80::1%eth0', 0, /bad IPv6/);
  rejects('AAAA', '1:2:3:4:5:6:7:8:9', 0, /bad IPv6/);
  rejects('MX', 'ten mail', 0, /bad preference 'ten'/);
  rejects('MX', '70000 mail', 0, /out of range/);
  rejects('MX', '10', 1, /missing its mail exchange/);
  rejects('NS', 'a..b', 0, /bad target name 'a\.\.b'.*empty label/);
  rejects('SOA', 'ns1 host 1 1h 15m 1w', 6, /missing its minimum/);
  rejects('SOA', 'ns1 host 1 1x 15m 1w 1d', 3, /bad refresh '1x'/);
  rejects('TXT', `"${'x'.repeat(256)}"`, 0, /256 bytes exceeds 255/);
  rejects('TXT', 'ok "\\1a"', 1, /bad escape/);
  rejects('TXT', 'ok "\\300"', 1, /above 255/);
  rejects('TXT', '', 0, /at least one string/);
  rejects('CAA', '0 is-sue "x"', 1, /bad CAA tag/);
  rejects('DS', '1 8 2 abcd', 3, /must be 32 bytes/);
  rejects('DS', '1 8 2 abc', 3, /odd number of hex digits/);
  rejects('DS', '1 8 2 zz', 3, /bad hex/);
  rejects('SSHFP', '1 1 abcd', 2, /must be 20 bytes/);
  rejects('A', '\\# 5 C0000201', 2, /4 bytes, its length says 5/);
  rejects('A', '\\# x', 1, /bad RDATA length/);
  rejects('NS', '\\# 2 0161', 2, /not a valid NS record/);
  rejects('LOC', '52 22 23.000 N 4 53 32.000 E -2.00m', 0, /no presentation format known for LOC/);
  const sig = 'A 8 3 3600 20300101000000 20000101000000 9033 example.net.';
  rejects('RRSIG', `BOGUS ${sig.slice(2)} AAAA`, 0, /unknown type covered 'BOGUS'/);
  rejects('RRSIG', 'A 8 3 3600 20301301000000 20000101000000 9033 example.net. AAAA', 4, /bad signature expiration '20301301000000'/);
  rejects('RRSIG', 'A 8 3 3600 20300101000000 2000010100000 9033 example.net. AAAA', 5, /bad signature inception/);
  rejects('RRSIG', 'A 8 3 3600 20300101000000 20000101000000 70000 example.net. AAAA', 6, /key tag 70000 out of range/);
  rejects('RRSIG', sig, 8, /missing its signature/);
  rejects('RRSIG', `${sig} AA=A`, 8, /bad base64/);
  rejects('NSEC', 'host.example. A NOTATYPE', 2, /unknown type 'NOTATYPE'/);
  rejects('NSEC', '', 0, /missing its next domain name/);
  rejects('NSEC3', '1 1 12 abc 2t7b4g4vsa5smi47k61mv5bv1a22bojr A', 3, /bad salt 'abc'/);
  rejects('NSEC3', '1 1 12 - 2t7b4g4vsa5smi47k61mv5bv1a22boj! A', 4, /bad next hashed owner name/);
  // 33 characters of base32hex leave 5 stray bits: not a canonical encoding.
  rejects('NSEC3', '1 1 12 - 2t7b4g4vsa5smi47k61mv5bv1a22bojr0 A', 4, /bad next hashed owner name/);
  rejects('NSEC3', '1 1 70000 - 2t7b4g4vsa5smi47k61mv5bv1a22bojr', 2, /out of range/);
  rejects('NSEC3PARAM', '1 0 12 aabbccdd extra', 4, /unexpected 'extra'/);
  rejects('NSEC3PARAM', '1 0 12', 3, /missing its salt/);
  rejects('CDS', '1 8 2 abcd', 3, /must be 32 bytes/);
});

test('RRSIG times read as YYYYMMDDHHmmSS or seconds, with 32-bit wrap-around (RFC 4034 3.1.5, 3.2)', T, () => {
  assert.equal(sigTimeFromText('20300101000000'), 1893456000);
  assert.equal(sigTimeFromText('19700101000000'), 0);
  assert.equal(sigTimeFromText('1893456000'), 1893456000);
  assert.equal(sigTimeFromText('4294967295'), 4294967295);
  assert.equal(sigTimeFromText('20000229120000'), 951825600);
  // 2106-02-07 06:28:16 is 2^32 seconds: the field wraps to 0.
  assert.equal(sigTimeFromText('21060207062816'), 0);
  for (const bad of ['4294967296', '20010229000000', '20001301000000', '20000100000000', '20000101240000', '19691231235959', '2000010100000', '-1', '1e9', '']) {
    assert.equal(sigTimeFromText(bad), undefined, bad);
  }
  assert.equal(sigTimeToText(0), '19700101000000');
  assert.equal(sigTimeToText(4294967295), '21060207062815');
  assert.equal(sigTimeToText(951825600), '20000229120000');
});
