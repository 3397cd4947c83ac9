import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Type } from '../src/dns/constants.js';
import { nameFromText, nameToText } from '../src/dns/name.js';
import { recordToText } from '../src/dns/rdata.js';
import { ParseOptions, ZoneRecord, ZoneSyntaxError, parseZoneFile, parseZoneString } from '../src/rpz/masterfile.js';

const T = { timeout: 10_000 };
const dir = mkdtempSync(join(tmpdir(), 'verdict-masterfile-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function read(text: string, opts: ParseOptions & { file?: string } = {}): ZoneRecord[] {
  const out: ZoneRecord[] = [];
  parseZoneString(text, (rr) => out.push(rr), opts);
  return out;
}

/** Records as dig would print them, with the line each came from. */
function lines(text: string, opts: ParseOptions & { file?: string } = {}): string[] {
  return read(text, opts).map((rr) => `${rr.line}|${recordToText(rr)}`);
}

function write(name: string, text: string): string {
  const p = join(dir, name);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, text);
  return p;
}

/** Asserts the load fails with exactly `where` (file:line:column) and a reason matching `reason`. */
function failsAt(text: string, where: string, reason: RegExp, opts: ParseOptions & { file?: string } = {}): void {
  assert.throws(() => parseZoneString(text, () => {}, { file: 'zone.db', ...opts }), (e: unknown) => {
    assert.ok(e instanceof ZoneSyntaxError, String(e));
    assert.equal(e.code, 'VERDICT_ERR_ZONE_SYNTAX');
    assert.equal(`${e.file}:${e.line}:${e.column}`, where, e.message);
    assert.match(e.reason, reason);
    assert.equal(e.message, `${where}: ${e.reason}`);
    return true;
  });
}

test('a complete zone: parentheses, comments, omitted owner/TTL/class, @, relative names, $ORIGIN, $TTL', T, () => {
  const zone = [
    '; a comment line',
    '$ORIGIN example.com.',
    '@   IN  SOA ns1 hostmaster (   ; opening on the owner line',
    '            2024010101 ; serial',
    '            1h 15m     ; refresh, retry with units',
    '            1w 1d )    ; expire, minimum',
    '        NS  ns1',
    '        NS  ns2.example.net.',
    'www 300 IN A 192.0.2.1',
    '    IN 600 AAAA 2001:db8::1',
    '    A 192.0.2.2',
    'mail IN MX 10 @',
    '',
    '$TTL 2h',
    'txt TXT "hello; world" plain "tab\\009" ( "second"',
    '         "third" )',
    '$ORIGIN sub',
    'deep CNAME www.example.com.',
    '@ CNAME other',
  ].join('\n');
  assert.deepEqual(lines(zone, { file: 'example.db' }), [
    '3|example.com.\t86400\tIN\tSOA\tns1.example.com. hostmaster.example.com. 2024010101 3600 900 604800 86400',
    '7|example.com.\t86400\tIN\tNS\tns1.example.com.',
    '8|example.com.\t86400\tIN\tNS\tns2.example.net.',
    '9|www.example.com.\t300\tIN\tA\t192.0.2.1',
    '10|www.example.com.\t600\tIN\tAAAA\t2001:db8::1',
    '11|www.example.com.\t600\tIN\tA\t192.0.2.2',
    '12|mail.example.com.\t600\tIN\tMX\t10 example.com.',
    '15|txt.example.com.\t7200\tIN\tTXT\t"hello; world" "plain" "tab\\009" "second" "third"',
    '18|deep.sub.example.com.\t7200\tIN\tCNAME\twww.example.com.',
    '19|sub.example.com.\t7200\tIN\tCNAME\tother.sub.example.com.',
  ]);
  assert.ok(read(zone, { file: 'example.db' }).every((rr) => rr.file === 'example.db'));
});

test('TTL and class may come in either order, and both may be omitted', T, () => {
  const rrs = read('a 60 IN A 192.0.2.1\nb IN 70 A 192.0.2.2\nc IN A 192.0.2.3\nd 80 A 192.0.2.4\ne A 192.0.2.5\n');
  assert.deepEqual(rrs.map((r) => [nameToText(r.name), r.ttl, r.class]), [
    ['a.', 60, 1], ['b.', 70, 1], ['c.', 70, 1], ['d.', 80, 1], ['e.', 80, 1],
  ]);
});

test('TTL defaults: SOA minimum first, else defaultTtl; $TTL beats the last explicit TTL (RFC 2308 4)', T, () => {
  assert.deepEqual(read('@ SOA ns host 1 2 3 4 900\nx A 192.0.2.1\n').map((r) => r.ttl), [900, 900]);
  assert.deepEqual(read('x A 192.0.2.1\ny 5 A 192.0.2.2\nz A 192.0.2.3\n').map((r) => r.ttl), [3600, 5, 5]);
  assert.deepEqual(read('x A 192.0.2.1\n', { defaultTtl: 42 }).map((r) => r.ttl), [42]);
  assert.deepEqual(read('$TTL 1d\n@ SOA ns host 1 2 3 4 900\nx 5 A 192.0.2.1\ny A 192.0.2.2\n').map((r) => r.ttl), [86400, 5, 86400]);
  assert.deepEqual(read('x 1w2d3h4m5s A 192.0.2.1\n').map((r) => r.ttl), [788645]);
});

test('RPZ rules relative to the zone origin, with wildcards', T, () => {
  const rrs = read('$TTL 300\n@ SOA localhost. root.localhost. 1 1h 15m 30d 2h\n  NS localhost.\n' +
    'name.example.com CNAME .\n*.name.example.com CNAME .\nnodata.example CNAME *.\npass.example CNAME rpz-passthru.\n',
  { origin: nameFromText('rpz.example.') });
  assert.deepEqual(rrs.map((r) => `${nameToText(r.name)} ${nameToText(r.rdata)}`), [
    'rpz.example. localhost.',
    'rpz.example. localhost.',
    'name.example.com.rpz.example. .',
    '*.name.example.com.rpz.example. .',
    'nodata.example.rpz.example. *.',
    'pass.example.rpz.example. rpz-passthru.',
  ]);
  assert.equal(rrs[0]!.type, Type.SOA);
  assert.equal(rrs[2]!.type, Type.CNAME);
});

test('escapes in names keep the dot inside the label and high bytes intact', T, () => {
  const [rr] = read('a\\.b.example. A 192.0.2.1\n');
  assert.deepEqual([...rr!.name], [3, 0x61, 0x2e, 0x62, 7, ...Buffer.from('example'), 0]);
  const [hi] = read('\\200\\032x.example. CNAME \\255.example.\n');
  assert.deepEqual([...hi!.name.subarray(0, 4)], [3, 200, 32, 0x78]);
  assert.equal(recordToText(hi!), '\\200\\032x.example.\t3600\tIN\tCNAME\t\\255.example.');
  // A raw byte in the file (latin1-read) is the same byte as its \DDD escape.
  const [raw] = read('caf\u00e9.example. A 192.0.2.1\n');
  assert.equal(nameToText(raw!.name), 'caf\\195\\169.example.');
});

test('quoted strings keep blanks, semicolons, parentheses and escaped quotes', T, () => {
  const [rr] = read('t TXT "a; b ( c )" "say \\"hi\\"" \\"bare \\059x\n');
  assert.equal(recordToText(rr!), 't.\t3600\tIN\tTXT\t"a; b ( c )" "say \\"hi\\"" "\\"bare" ";x"');
});

test('RFC 3597 generic RDATA for unknown and known types', T, () => {
  const rrs = read('x TYPE65534 \\# 3 ( ab\n cd ef )\ny A \\# 4 C0000201\nz CLASS1 TYPE1 192.0.2.9\n');
  assert.deepEqual(rrs.map((r) => recordToText(r)), [
    'x.\t3600\tIN\tTYPE65534\t\\# 3 ABCDEF',
    'y.\t3600\tIN\tA\t192.0.2.1',
    'z.\t3600\tIN\tA\t192.0.2.9',
  ]);
});

test('CH zones load; a class different from the zone class is refused (RFC 1035 5.2)', T, () => {
  const rrs = read('version.bind. CH TXT "verdict"\n  TXT "again"\n');
  assert.deepEqual(rrs.map((r) => r.class), [3, 3]);
  failsAt('a IN A 192.0.2.1\nb CH A 192.0.2.2\n', 'zone.db:2:3', /class CH differs from the zone's class IN/);
  failsAt('a HS A 192.0.2.1\n', 'zone.db:1:3', /class HS is not supported/);
});

test('CRLF line ends and a last line without newline', T, () => {
  const rrs = read('a A 192.0.2.1\r\nb TXT "x"\r\n  ( A\r\n 192.0.2.2 )\r\nc A 192.0.2.3');
  assert.deepEqual(rrs.map((r) => recordToText(r)), [
    'a.\t3600\tIN\tA\t192.0.2.1', 'b.\t3600\tIN\tTXT\t"x"', 'b.\t3600\tIN\tA\t192.0.2.2', 'c.\t3600\tIN\tA\t192.0.2.3',
  ]);
});

test('malformed input stops the load at the exact file:line:column', T, () => {
  failsAt('ok A 192.0.2.1\nbad 1x A 192.0.2.1\n', 'zone.db:2:5', /bad TTL '1x'/);
  failsAt('bad 2147483648 A 192.0.2.1\n', 'zone.db:1:5', /exceeds 2147483647/);
  failsAt('ok A 192.0.2.1\n  BOGUS 1\n', 'zone.db:2:3', /unknown type 'BOGUS'/);
  failsAt('\n\nhost IN A 192.0.2.300 ; comment\n', 'zone.db:3:11', /bad IPv4 address '192\.0\.2\.300'/);
  failsAt('t TXT "ok" "never closed\n', 'zone.db:1:12', /unterminated quoted string/);
  failsAt('@ SOA ns host ( 1 2\n 3 4 5\n', 'zone.db:1:15', /'\(' is never closed/);
  failsAt('a A 192.0.2.1 )\n', 'zone.db:1:15', /'\)' without '\('/);
  failsAt('@ SOA ns host ( 1 2\n 3 4 )\n', 'zone.db:2:5', /SOA record is missing its minimum/);
  failsAt('a MX 10\n', 'zone.db:1:8', /missing its mail exchange/);
  failsAt('a A\n', 'zone.db:1:4', /missing its IPv4 address/);
  failsAt('a 300\n', 'zone.db:1:6', /missing type/);
  failsAt('  A 192.0.2.1\n', 'zone.db:1:3', /no owner name/);
  failsAt('a..b A 192.0.2.1\n', 'zone.db:1:1', /bad owner name 'a\.\.b'/);
  failsAt('"q" A 192.0.2.1\n', 'zone.db:1:1', /owner name must not be quoted/);
  failsAt('a ANY 192.0.2.1\n', 'zone.db:1:3', /meta-type/);
  failsAt('a TXT ab"c"\n', 'zone.db:1:9', /quote inside a word/);
  failsAt('a A 192.0.2.1 \\\n', 'zone.db:1:15', /backslash at the end of the line/);
  failsAt('a CNAME x..y\n', 'zone.db:1:9', /bad target name/);
  failsAt('$TTL 1x\n', 'zone.db:1:6', /bad TTL '1x'/);
  failsAt('$ORIGIN\n', 'zone.db:1:8', /\$ORIGIN is missing its origin/);
  failsAt('$ORIGIN a b\n', 'zone.db:1:11', /unexpected 'b'/);
  failsAt('$GENERATE 1-2 a$ A 192.0.2.$\n', 'zone.db:1:1', /\$GENERATE is not supported/);
  failsAt('$INCLUDE x.db\n', 'zone.db:1:1', /\$INCLUDE is not allowed/, { allowInclude: false });
});

test('lenient mode skips bad records, reports each, and keeps the good ones', T, () => {
  const out: string[] = [];
  const stats = parseZoneString([
    'a A 192.0.2.1',
    'b A 192.0.2.999',
    '  A 192.0.2.2', // owner b was read: this one stands
    'c..d A 192.0.2.3',
    '  A 192.0.2.4', // the owner above could not be read: skipped too, never given to an older owner
    'e TXT "open',
    'f ( A',
  ].join('\n'), (rr) => out.push(recordToText(rr)), { lenient: true, file: 'l.db' });
  assert.deepEqual(out, ['a.\t3600\tIN\tA\t192.0.2.1', 'b.\t3600\tIN\tA\t192.0.2.2']);
  assert.equal(stats.records, 2);
  assert.deepEqual(stats.skipped.map((e) => e.message), [
    "l.db:2:5: bad IPv4 address '192.0.2.999'",
    "l.db:4:1: bad owner name 'c..d': empty label in \"c..d\"",
    'l.db:5:3: no owner name: the owner at line 4 could not be read',
    'l.db:6:7: unterminated quoted string',
    "l.db:7:3: unbalanced parenthesis: '(' is never closed",
  ]);
  // Directives are never skipped: ignoring one would misread everything after it.
  assert.throws(() => parseZoneString('$ORIGIN a..b\nx A 192.0.2.1\n', () => {}, { lenient: true }), /<string>:1:9: bad origin 'a\.\.b'/);
});

test('$INCLUDE reads relative to the including file, with its own origin, and restores the parent origin', T, () => {
  write('inc/main.db', [
    '$ORIGIN example.com.',
    '$TTL 60',
    'top A 192.0.2.1',
    '$INCLUDE parts/hosts.db',
    '$INCLUDE "parts/hosts.db" other.example.',
    'after A 192.0.2.9',
  ].join('\n'));
  write('inc/parts/hosts.db', 'host A 192.0.2.2\n$INCLUDE leaf.db\n');
  write('inc/parts/leaf.db', '$ORIGIN changed.\nleaf TXT "deep"\n');
  const rrs = read(`$INCLUDE ${join(dir, 'inc/main.db')}\n`);
  assert.deepEqual(rrs.map((r) => `${r.file.slice(dir.length + 1)}:${r.line} ${nameToText(r.name)} ${r.ttl}`), [
    'inc/main.db:3 top.example.com. 60',
    'inc/parts/hosts.db:1 host.example.com. 60',
    'inc/parts/leaf.db:2 leaf.changed. 60',
    'inc/parts/hosts.db:1 host.other.example. 60',
    'inc/parts/leaf.db:2 leaf.changed. 60',
    'inc/main.db:6 after.example.com. 60',
  ]);
});

test('$INCLUDE errors: inside the included file, missing file, loop, too deep', T, async () => {
  const main = write('err/main.db', 'ok A 192.0.2.1\n$INCLUDE sub/bad.db\n');
  write('err/sub/bad.db', '; included\n\nx A 192.0.2.1\ny 1q A 192.0.2.2\n');
  for (const run of [
    () => parseZoneFile(main, () => {}),
    async () => parseZoneString('$INCLUDE sub/bad.db\n', () => {}, { file: main }),
  ]) {
    await assert.rejects(run, (e: unknown) => {
      assert.ok(e instanceof ZoneSyntaxError);
      assert.equal(e.file, join(dir, 'err/sub/bad.db'));
      assert.deepEqual([e.line, e.column], [4, 3]);
      assert.match(e.reason, /bad TTL '1q'/);
      return true;
    });
  }

  const missing = write('err/missing.db', 'ok A 192.0.2.1\n\n$INCLUDE   nowhere.db\n');
  const missingRuns: [() => Promise<unknown>, string][] = [
    [() => parseZoneFile(missing, () => {}), '3:12'],
    [async () => parseZoneString('$INCLUDE   nowhere.db', () => {}, { file: missing }), '1:12'],
  ];
  for (const [run, where] of missingRuns) {
    await assert.rejects(run, (e: unknown) => {
      assert.ok(e instanceof ZoneSyntaxError);
      assert.equal(`${e.file}:${e.line}:${e.column}`, `${missing}:${where}`);
      assert.match(e.reason, /cannot read \$INCLUDE file .*nowhere\.db: ENOENT/);
      return true;
    });
  }

  const a = write('loop/a.db', 'a A 192.0.2.1\n$INCLUDE b.db\n');
  write('loop/b.db', '\n$INCLUDE ./a.db\n');
  await assert.rejects(parseZoneFile(a, () => {}), (e: unknown) => {
    assert.ok(e instanceof ZoneSyntaxError);
    assert.equal(`${e.file}:${e.line}:${e.column}`, `${join(dir, 'loop/b.db')}:2:10`);
    assert.match(e.reason, /\$INCLUDE loop: a\.db -> b\.db -> a\.db/);
    return true;
  });

  // A chain of 4 files is 3 levels of nesting: allowed at depth 3, refused at depth 2.
  write('chain/f3.db', 'end A 192.0.2.3\n');
  write('chain/f2.db', '$INCLUDE f3.db\n');
  write('chain/f1.db', '$INCLUDE f2.db\n');
  const f0 = write('chain/f0.db', '$INCLUDE f1.db\n');
  assert.equal((await parseZoneFile(f0, () => {}, { includeDepth: 3 })).records, 1);
  await assert.rejects(parseZoneFile(f0, () => {}, { includeDepth: 2 }), (e: unknown) => {
    assert.ok(e instanceof ZoneSyntaxError);
    assert.equal(`${e.file}:${e.line}:${e.column}`, `${join(dir, 'chain/f2.db')}:1:10`);
    assert.match(e.reason, /nested deeper than 2/);
    return true;
  });
});

test('a zone file that cannot be opened is an error about the file (line 0)', T, async () => {
  const p = join(dir, 'does-not-exist.db');
  await assert.rejects(parseZoneFile(p, () => {}), (e: unknown) => {
    assert.ok(e instanceof ZoneSyntaxError);
    assert.equal(e.message, `${p}:0:0: cannot read zone file: ENOENT`);
    return true;
  });
  await assert.rejects(parseZoneFile(dir, () => {}), /EISDIR/);
});

test('streaming reads give the same records as one string, across chunk boundaries', { timeout: 30_000 }, async () => {
  // Larger than the 1 MiB read size, with entries spanning lines and quoted strings,
  // so that chunk boundaries fall inside entries, strings and CRLF pairs.
  const parts: string[] = ['$ORIGIN big.example.\r\n$TTL 5m\r\n'];
  let size = 0;
  for (let i = 0; size < 2_600_000; i++) {
    const entry = `h${i} ( A\r\n  192.0.2.${i % 256} ) ; c\r\n  TXT "t; ${i}" ( x\r\n y )\r\n` +
      `  TYPE65534 \\# ( 3 41\r\n 4243 )\r\n*.w${i} CNAME .\r\n`;
    parts.push(entry);
    size += entry.length;
  }
  const text = parts.join('');
  const p = write('big.db', text);
  const fromString: string[] = [];
  parseZoneString(text, (rr) => fromString.push(`${rr.line} ${recordToText(rr)}`));
  const fromFile: string[] = [];
  const stats = await parseZoneFile(p, (rr) => fromFile.push(`${rr.line} ${recordToText(rr)}`));
  assert.equal(stats.records, fromString.length);
  assert.ok(fromFile.length > 80_000, String(fromFile.length));
  assert.deepEqual(fromFile, fromString);
  assert.deepEqual(fromFile.slice(0, 5), [
    '3 h0.big.example.\t300\tIN\tA\t192.0.2.0',
    '5 h0.big.example.\t300\tIN\tTXT\t"t; 0" "x" "y"',
    '7 h0.big.example.\t300\tIN\tTYPE65534\t\\# 3 414243',
    '9 *.w0.big.example.\t300\tIN\tCNAME\t.',
    '10 h1.big.example.\t300\tIN\tA\t192.0.2.1',
  ]);
});
