/**
 * DNS over TLS (RFC 7858) and DNS over HTTPS (RFC 8484) with real clients from
 * Debian (kdig, BIND's dig, curl) and node's own TLS and HTTP/2 clients, all
 * verifying the server against a CA the test makes with openssl. The upstream
 * is a scripted network; the court order is the real 2013 one.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as h2connect } from 'node:http2';
import type { ClientHttp2Session } from 'node:http2';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { loadConfig } from '../src/config/load.js';
import { Ede, EdnsOption, Rcode, Type } from '../src/dns/constants.js';
import { makeEdns, readEde } from '../src/dns/edns.js';
import { decodeMessage, emptyMessage, encodeMessage, makeQuery } from '../src/dns/message.js';
import type { Message } from '../src/dns/message.js';
import { nameFromText, nameToText } from '../src/dns/name.js';
import type { Transport, UpstreamQuestion, UpstreamReply } from '../src/resolver/transport.js';
import { Verdict } from '../src/resolver/verdict.js';
import { ask } from './helpers/client.js';
import { makeCa, makeServerCert, makeStrayKey, TEST_TLS_NAME } from './helpers/tls.js';
import type { TestCa } from './helpers/tls.js';

/** Every A question gets 192.0.2.1 (TTL 300); slow.example. waits 700 ms first. */
class Net implements Transport {
  async query(q: UpstreamQuestion): Promise<UpstreamReply> {
    if (nameToText(q.name).toLowerCase().startsWith('slow.')) await new Promise((r) => setTimeout(r, 700));
    const m = emptyMessage({ qr: true, aa: true, questions: [{ name: q.name, type: q.type, class: 1 }] });
    if (q.type === Type.A) m.answers.push({ name: q.name, type: Type.A, class: 1, ttl: 300, rdata: Buffer.from([192, 0, 2, 1]) });
    return { message: m, rttMs: 1, sentName: q.name, tcp: false };
  }
}

const tools = ['kdig', 'dig', 'curl', 'openssl'].filter((t) => spawnSync(t, t === 'curl' ? ['--version'] : t === 'openssl' ? ['version'] : ['-v']).error);
const skip = tools.length ? `missing ${tools.join(', ')} (scripts/deps.sh)` : false;

const dir = mkdtempSync(join(tmpdir(), 'verdict-tls-'));
let ca: TestCa;
let v: Verdict;
let udp = 0;
let dot = 0;
let doh = 0;

const config = (extra = '') => `server:
  listen: ["127.0.0.1:0"]
  dot_listen: ["127.0.0.1:0"]
  doh_listen: ["127.0.0.1:0"]
  tls: { cert_file: ${join(dir, 'server.pem')}, key_file: ${join(dir, 'server.key')} }
  tls_handshake_timeout_ms: 600
  doh_request_timeout_ms: 800
  tcp_idle_timeout_ms: 1500
  doh_max_streams: 8
  ddr: { dot_name: ${TEST_TLS_NAME}, doh_name: ${TEST_TLS_NAME}, ttl: 120 }
${extra}resolver: { qname_minimisation: false }
log: { level: silent }
control: { enabled: false }
mirrors: { enabled: false }
dnssec: { validation: false }
orders:
  files: ["${dir}/orders/*.yaml"]
  notice_host: notice.isp.example
  notice_addresses: [198.51.100.80]
`;

before(async () => {
  if (skip) return;
  ca = makeCa(dir);
  const c = makeServerCert(ca, 'first');
  copyFileSync(c.cert, join(dir, 'server.pem'));
  copyFileSync(c.key, join(dir, 'server.key'));
  mkdirSync(join(dir, 'orders'));
  copyFileSync('config/orders/2013-tgi-paris-allostreaming.yaml', join(dir, 'orders/2013.yaml'));
  writeFileSync(join(dir, 'verdict.yaml'), config());
  v = new Verdict(loadConfig(join(dir, 'verdict.yaml')), {
    transport: new Net(), rootHints: [{ name: 'a.root.lab', address: '127.55.0.1' }], orderClock: () => new Date('2014-06-01T12:00:00Z'),
  });
  await v.start();
  udp = v.server.addresses.find((a) => a.transport === 'udp')!.port;
  dot = v.encrypted.addresses.find((a) => a.transport === 'dot')!.port;
  doh = v.encrypted.addresses.find((a) => a.transport === 'doh')!.port;
});
after(() => v?.stop());

/** A command's output, without blocking this process's event loop (the server runs here). */
function run(cmd: string, args: string[]): Promise<{ out: string; code: number }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: 20_000, cwd: dir }, (err, stdout, stderr) => resolve({ out: stdout + stderr, code: err ? (typeof err.code === 'number' ? err.code : 1) : 0 }));
  });
}

const kdigTls = (...a: string[]) => run('kdig', [`@127.0.0.1`, '-p', String(dot), `+tls-ca=${ca.ca}`, `+tls-hostname=${TEST_TLS_NAME}`, '+timeout=5', ...a]);
const kdigHttps = (...a: string[]) => run('kdig', [`@127.0.0.1`, '-p', String(doh), `+tls-ca=${ca.ca}`, `+tls-hostname=${TEST_TLS_NAME}`, '+https', '+timeout=5', ...a]);
const digTls = (...a: string[]) => run('dig', [`@127.0.0.1`, '-p', String(dot), '+tls', `+tls-ca=${ca.ca}`, `+tls-hostname=${TEST_TLS_NAME}`, '+time=5', '+tries=1', ...a]);
const digHttps = (...a: string[]) => run('dig', [`@127.0.0.1`, '-p', String(doh), `+tls-ca=${ca.ca}`, `+tls-hostname=${TEST_TLS_NAME}`, '+time=5', '+tries=1', ...a]);
const dohUrl = (path = '/dns-query') => `https://${TEST_TLS_NAME}:${doh}${path}`;
const curl = (...a: string[]) => run('curl', ['-sS', '--max-time', '10', '--cacert', ca.ca, '--resolve', `${TEST_TLS_NAME}:${doh}:127.0.0.1`, ...a]);

const ORDER_TEXT = /blocked by court order: 2013-tgi-paris-allostreaming \(Tribunal de grande instance de Paris, 2013-11-28\)/;

function query(name: string, type: number = Type.A, opts: { id?: number; pad?: number; edns?: boolean } = {}): Buffer {
  const edns = opts.edns === false ? undefined : makeEdns(1232);
  if (edns && opts.pad !== undefined) edns.options.push({ code: EdnsOption.PADDING, data: Buffer.alloc(opts.pad) });
  return encodeMessage(makeQuery(opts.id ?? 0, nameFromText(name), type, { rd: true, edns }));
}

function frame(raw: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(raw.length);
  return Buffer.concat([len, raw]);
}

/** A DoT connection verifying the test CA; `session` resumes an earlier one. */
function dotConnect(session?: Buffer): Promise<{ sock: TLSSocket; session: Promise<Buffer> }> {
  return new Promise((resolve, reject) => {
    let gotSession!: (b: Buffer) => void;
    const sessionP = new Promise<Buffer>((r) => (gotSession = r));
    const sock = tlsConnect({ host: '127.0.0.1', port: dot, ca: readFileSync(ca.ca), servername: TEST_TLS_NAME, ALPNProtocols: ['dot'], ...(session ? { session } : {}) }, () => resolve({ sock, session: sessionP }));
    sock.on('session', (s: Buffer) => gotSession(s));
    sock.once('error', reject);
  });
}

/** Read `n` framed answers from a DoT connection, in arrival order (bounded by `ms`). */
function readAnswers(sock: TLSSocket, n: number, ms = 5000): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    let buf = Buffer.alloc(0);
    const t = setTimeout(() => reject(new Error(`got ${out.length} of ${n} answers in ${ms} ms`)), ms);
    const on = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (out.length >= n) {
        clearTimeout(t);
        sock.off('data', on);
        resolve(out);
      }
    };
    sock.on('data', on);
  });
}

async function metricsText(): Promise<string> {
  v.syncCounters();
  return v.metrics.registry.metrics();
}

function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

function dohGet(session: ClientHttp2Session, path: string): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': path, accept: 'application/dns-message' });
    const chunks: Buffer[] = [];
    let headers: Record<string, unknown> = {};
    req.on('response', (h) => (headers = h));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ status: Number(headers[':status']), headers, body: Buffer.concat(chunks) }));
    req.on('error', reject);
    req.setTimeout(5000, () => reject(new Error('no DoH answer in 5 s')));
  });
}

const h2 = () => h2connect(dohUrl('/'), { ca: readFileSync(ca.ca), host: '127.0.0.1' } as never);
const b64 = (raw: Buffer) => raw.toString('base64url');

test('a court-ordered name is blocked alike, with EDE 16 naming the order, over UDP, TCP, DoT and DoH', { skip }, async () => {
  for (const tcp of [false, true]) {
    const m = await ask('www.dpstream.tv.', Type.A, udp, { tcp, edns: makeEdns(1232) });
    assert.equal(m.rcode, Rcode.NOERROR);
    assert.deepEqual(m.answers.map((r) => [...r.rdata].join('.')), ['198.51.100.80'], tcp ? 'tcp' : 'udp');
    assert.equal(readEde(m)[0]?.code, Ede.CENSORED);
    assert.match(readEde(m)[0]!.text, ORDER_TEXT);
  }
  for (const [who, r] of [['kdig +tls', await kdigTls('www.dpstream.tv', 'A')], ['kdig +https', await kdigHttps('www.dpstream.tv', 'A')]] as const) {
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /status: NOERROR/, who);
    assert.match(r.out, /www\.dpstream\.tv\.\s+\d+\s+IN\s+A\s+198\.51\.100\.80/, who);
    assert.match(r.out, /EDE: 16 \(Censored\)/, who);
    assert.match(r.out, ORDER_TEXT, who);
  }
  assert.match((await kdigTls('www.dpstream.tv', 'A')).out, /TLS session \(TLS1\.[23]\)/);
  assert.match((await kdigHttps('www.dpstream.tv', 'A')).out, /HTTP session \(HTTP\/2-POST\).*status: 200/);
  for (const [who, r] of [['dig +tls', await digTls('www.dpstream.tv', 'A')], ['dig +https', await digHttps('+https', 'www.dpstream.tv', 'A')], ['dig +https-get', await digHttps('+https-get', 'www.dpstream.tv', 'A')]] as const) {
    assert.match(r.out, /status: NOERROR/, `${who}: ${r.out}`);
    assert.match(r.out, /www\.dpstream\.tv\.\s+\d+\s+IN\s+A\s+198\.51\.100\.80/, who);
    assert.match(r.out, /EDE: 16 \(Censored\)/, who);
    assert.match(r.out, ORDER_TEXT, who);
  }
  // curl, HTTP/2, GET and POST, verifying the CA.
  const q = query('www.dpstream.tv.');
  writeFileSync(join(dir, 'q.bin'), q);
  for (const args of [[dohUrl(`/dns-query?dns=${b64(q)}`)], ['-H', 'content-type: application/dns-message', '--data-binary', '@q.bin', dohUrl()]]) {
    const r = await curl('--http2', '-o', 'a.bin', '-w', '%{http_code} %{http_version} %{content_type}', ...args);
    assert.equal(r.out, '200 2 application/dns-message', r.out);
    const m = decodeMessage(readFileSync(join(dir, 'a.bin')));
    assert.deepEqual(m.answers.map((x) => [...x.rdata].join('.')), ['198.51.100.80']);
    assert.match(readEde(m)[0]!.text, ORDER_TEXT);
  }
  const text = await metricsText();
  for (const t of ['udp', 'tcp', 'dot', 'doh']) {
    assert.ok(sample(text, `verdict_queries_total{qtype="A",rcode="NOERROR",transport="${t}"}`) >= 1, `queries counted for ${t}`);
  }
  assert.ok(sample(text, 'verdict_order_blocked_total{order="2013-tgi-paris-allostreaming"}') >= 9);
  assert.ok(sample(text, 'verdict_tls_connections_total{transport="dot",resumed="false"}') >= 1);
});

test('DoT: ALPN "dot", pipelined queries answered out of order, padded answers to padded queries', { skip }, async () => {
  const { sock } = await dotConnect();
  try {
    assert.equal(sock.alpnProtocol, 'dot');
    // Warm the cache, then a slow question and a cached one on the same connection: the cached one comes back first.
    sock.write(frame(query('fast.example.', Type.A, { id: 1 })));
    await readAnswers(sock, 1);
    sock.write(Buffer.concat([frame(query('slow.example.', Type.A, { id: 2 })), frame(query('fast.example.', Type.A, { id: 3 }))]));
    const two = await readAnswers(sock, 2, 5000);
    assert.deepEqual(two.map((w) => w.readUInt16BE(0)), [3, 2], 'RFC 7766 6.2.1.1: the answer ready first goes first');
    // RFC 8467: a padded query gets an answer padded to a multiple of 468; an unpadded one, no padding.
    for (const name of ['fast.example.', 'new-name.example.', 'www.dpstream.tv.']) {
      sock.write(frame(query(name, Type.A, { id: 7, pad: 20 })));
      const [padded] = await readAnswers(sock, 1);
      assert.equal(padded!.length % 468, 0, `${name}: ${padded!.length} bytes`);
      assert.ok(decodeMessage(padded!).edns!.options.some((o) => o.code === EdnsOption.PADDING));
    }
    sock.write(frame(query('fast.example.', Type.A, { id: 8 })));
    const [plain] = await readAnswers(sock, 1);
    assert.equal(decodeMessage(plain!).edns!.options.some((o) => o.code === EdnsOption.PADDING), false);
  } finally {
    sock.destroy();
  }
  // kdig's own padding (+padding) is honoured too.
  const r = await kdigTls('+padding', 'fast.example', 'A');
  assert.match(r.out, /PADDING: \d+ B/);
  assert.match(r.out, /Received 468 B/);
});

test('DoT and DoH answers come from the fast path once cached', { skip }, async () => {
  await kdigTls('cached.example', 'A');
  const before = await metricsText();
  for (let i = 0; i < 3; i++) {
    await kdigTls('cached.example', 'A');
    await kdigHttps('cached.example', 'A');
  }
  const text = await metricsText();
  assert.ok(sample(text, 'verdict_fast_answers_total') - sample(before, 'verdict_fast_answers_total') >= 6);
  for (const t of ['dot', 'doh']) {
    const series = `verdict_queries_total{qtype="A",rcode="NOERROR",transport="${t}"}`;
    assert.ok(sample(text, series) - sample(before, series) >= 3, `${t}: fast answers counted under their transport`);
  }
});

test('TLS session resumption: a second DoT connection resumes the first one\'s session', { skip }, async () => {
  const first = await dotConnect();
  first.sock.write(frame(query('resume.example.')));
  await readAnswers(first.sock, 1);
  const session = await Promise.race([first.session, new Promise<Buffer>((_, j) => setTimeout(() => j(new Error('no session ticket')), 3000))]);
  first.sock.destroy();
  const second = await dotConnect(session);
  try {
    assert.equal(second.sock.isSessionReused(), true);
    second.sock.write(frame(query('resume.example.')));
    assert.equal(decodeMessage((await readAnswers(second.sock, 1))[0]!).rcode, Rcode.NOERROR);
  } finally {
    second.sock.destroy();
  }
  assert.ok(sample(await metricsText(), 'verdict_tls_connections_total{transport="dot",resumed="true"}') >= 1);
});

test('DoH: Cache-Control from the smallest TTL; 400, 404, 405, 413 and 415 for bad requests, with nothing echoed', { skip }, async () => {
  const s = h2();
  try {
    const ok = await dohGet(s, `/dns-query?dns=${b64(query('ttl.example.'))}`);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['content-type'], 'application/dns-message');
    assert.equal(ok.headers['cache-control'], 'max-age=300');
    const again = await dohGet(s, `/dns-query?dns=${b64(query('ttl.example.'))}`);
    assert.match(String(again.headers['cache-control']), /^max-age=(29\d|300)$/, 'from the cache: the TTL left');
    const blocked = await dohGet(s, `/dns-query?dns=${b64(query('www.dpstream.tv.'))}`);
    assert.equal(blocked.headers['cache-control'], 'max-age=5', 'policy answers: rpz.max_policy_ttl');
    const secret = 'SECRET<script>';
    for (const [path, status] of [
      ['/dns-query', 400],
      [`/dns-query?dns=${encodeURIComponent(secret)}`, 400],
      [`/dns-query?dns=${b64(Buffer.from('tiny'))}`, 400],
      [`/other?dns=${b64(query('x.example.'))}`, 404],
    ] as const) {
      const r = await dohGet(s, path);
      assert.equal(r.status, status, path);
      assert.ok(!r.body.toString().includes('SECRET'), 'the request is not echoed');
    }
  } finally {
    s.close();
  }
  writeFileSync(join(dir, 'big.bin'), Buffer.alloc(70_000, 1));
  writeFileSync(join(dir, 'junk.bin'), Buffer.from('not a dns message at all'));
  const code = async (...a: string[]) => (await curl('--http2', '-o', '/dev/null', '-w', '%{http_code}', ...a)).out;
  assert.equal(await code('-H', 'content-type: text/plain', '--data-binary', '@q.bin', dohUrl()), '415');
  assert.equal(await code('-H', 'content-type: application/dns-message', '--data-binary', '@big.bin', dohUrl()), '413');
  assert.equal(await code('-H', 'content-type: application/dns-message', '-H', 'transfer-encoding: chunked', '--data-binary', '@big.bin', dohUrl()), '413');
  assert.equal(await code('-X', 'PUT', '-H', 'content-type: application/dns-message', '--data-binary', '@q.bin', dohUrl()), '405');
  assert.equal(await code('-H', 'content-type: application/dns-message', '--data-binary', '@junk.bin', dohUrl()), '200', 'readable header, unreadable rest: FORMERR in a 200');
  // HTTP/1.1 fallback.
  assert.equal((await curl('--http1.1', '-o', '/dev/null', '-w', '%{http_code} %{http_version}', dohUrl(`/dns-query?dns=${b64(query('h1.example.'))}`))).out, '200 1.1');
  const text = await metricsText();
  for (const st of ['200', '400', '404', '405', '413', '415']) assert.ok(sample(text, `verdict_doh_responses_total{status="${st}"}`) >= 1, st);
});

/**
 * The frames of one HTTP/2 GET on a fresh connection, on stream 1, as the server sent them. Hand-written
 * (node's HTTP/2 client hides frames): the connection preface, an empty SETTINGS, and one HEADERS frame
 * whose HPACK block uses only static-table indices and literals without Huffman (RFC 7541 6.1, 6.2.2).
 */
function h2Frames(port: number, path: string): Promise<{ type: number; flags: number; payload: Buffer }[]> {
  const frameOf = (type: number, flags: number, id: number, payload: Buffer) => {
    const h = Buffer.alloc(9);
    h.writeUIntBE(payload.length, 0, 3);
    h[3] = type;
    h[4] = flags;
    h.writeUInt32BE(id, 5);
    return Buffer.concat([h, payload]);
  };
  const literal = (index: number, value: string) => Buffer.concat([Buffer.from([index, value.length]), Buffer.from(value)]);
  // :method GET (2), :scheme https (7), :path (name 4), :authority (name 1).
  const block = Buffer.concat([Buffer.from([0x82, 0x87]), literal(0x04, path), literal(0x01, TEST_TLS_NAME)]);
  return new Promise((resolve, reject) => {
    const frames: { type: number; flags: number; payload: Buffer }[] = [];
    let buf = Buffer.alloc(0);
    const s = tlsConnect({ host: '127.0.0.1', port, servername: TEST_TLS_NAME, ca: readFileSync(ca.ca), ALPNProtocols: ['h2'] }, () => {
      s.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frameOf(4, 0, 0, Buffer.alloc(0)), frameOf(1, 0x05, 1, block)]));
    });
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`no END_STREAM in 5 s: ${JSON.stringify(frames)}`)); }, 5000);
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
        const len = buf.readUIntBE(0, 3);
        const f = { type: buf[3]!, flags: buf[4]!, id: buf.readUInt32BE(5) & 0x7fffffff, payload: Buffer.from(buf.subarray(9, 9 + len)) };
        buf = buf.subarray(9 + len);
        if (f.type === 4 && !(f.flags & 1)) s.write(frameOf(4, 1, 0, Buffer.alloc(0))); // SETTINGS ACK
        if (f.id !== 1) continue;
        frames.push({ type: f.type, flags: f.flags, payload: f.payload });
        if (f.flags & 1) { clearTimeout(timer); s.end(); resolve(frames); }
      }
    });
  });
}

test('DoH over HTTP/2: the answer is one DATA frame that ends the stream, and dnsperf -m doh (GET, POST) and -m dot get every answer', { skip }, async () => {
  const DATA = 0;
  const HEADERS = 1;
  const END_STREAM = 0x1;
  for (const path of [`/dns-query?dns=${b64(query('frames.example.'))}`, '/nowhere']) {
    const frames = await h2Frames(doh, path);
    assert.deepEqual(frames.map((f) => [f.type, f.flags & END_STREAM]), [[HEADERS, 0], [DATA, END_STREAM]], `${path}: HEADERS, then one DATA with END_STREAM, no trailers`);
  }
  const [, data] = await h2Frames(doh, `/dns-query?dns=${b64(query('frames.example.'))}`);
  const answer = decodeMessage(data!.payload);
  assert.equal(answer.answers.length, 1, 'the whole answer is in that frame');
  // Headers, through node's client: the type and the exact length of the body.
  const s = h2();
  try {
    const r = await dohGet(s, `/dns-query?dns=${b64(query('frames.example.'))}`);
    assert.equal(r.headers['content-type'], 'application/dns-message');
    assert.equal(Number(r.headers['content-length']), r.body.length);
  } finally {
    s.close();
  }
  if (spawnSync('dnsperf', ['-h']).error) return void assert.fail('dnsperf missing (scripts/deps.sh)');
  writeFileSync(join(dir, 'perf.txt'), 'perf1.example A\nperf2.example A\nperf3.example AAAA\n');
  // -q 8: no more queries in flight than doh_max_streams (dnsperf 2.10 crashes past the server's limit).
  // Two connections, eight in flight: several answers are ready in the same turn, on one connection.
  for (const [mode, port, extra] of [['doh', doh, ['-O', 'doh-method=GET']], ['doh', doh, ['-O', 'doh-method=POST']], ['dot', dot, []]] as const) {
    const r = await run('dnsperf', ['-m', mode, '-s', '127.0.0.1', '-p', String(port), '-d', join(dir, 'perf.txt'), '-n', '20', '-c', '2', '-q', '8', '-l', '10', '-t', '3', ...extra]);
    assert.equal(r.code, 0, r.out);
    assert.doesNotMatch(r.out, /Error|frame received/, r.out);
    assert.match(r.out, /Queries completed:\s+60 \(100\.00%\)/, `${mode} ${extra.join(' ')}: ${r.out}`);
  }
});

test('bad clients are cut off and everyone else keeps being served', { skip }, async () => {
  const stillServes = async () => {
    assert.match((await kdigTls('ok.example', 'A')).out, /status: NOERROR/);
    assert.match((await kdigHttps('ok.example', 'A')).out, /status: NOERROR/);
  };
  const closedWithin = (sock: Socket, ms: number) => new Promise<number>((resolve, reject) => {
    const t0 = Date.now();
    const t = setTimeout(() => reject(new Error(`still open after ${ms} ms`)), ms);
    sock.on('error', () => undefined);
    sock.once('close', () => { clearTimeout(t); resolve(Date.now() - t0); });
  });
  const raw = (port: number) => new Promise<Socket>((resolve) => { const s = new Socket(); s.connect(port, '127.0.0.1', () => resolve(s)); });
  const failuresBefore = sample(await metricsText(), 'verdict_tls_handshake_failures_total{transport="dot"}');
  // Garbage where a TLS ClientHello should be: closed at once.
  for (const port of [dot, doh]) {
    const g = await raw(port);
    const closed = closedWithin(g, 3000);
    g.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n' + '\x00\xff'.repeat(200), 'latin1'));
    await closed;
  }
  // A client that never finishes its handshake: cut after tls_handshake_timeout_ms (600 ms).
  const silent = [await raw(dot), await raw(doh)];
  const cut = await Promise.all(silent.map((s) => closedWithin(s, 4000)));
  for (const ms of cut) assert.ok(ms < 3000, `cut after ${ms} ms`);
  await stillServes();
  assert.ok(sample(await metricsText(), 'verdict_tls_handshake_failures_total{transport="dot"}') >= failuresBefore + 2);

  // HTTP/2 slowloris: a POST whose body never ends gets 408 after doh_request_timeout_ms (800 ms).
  const s = h2();
  try {
    const req = s.request({ ':method': 'POST', ':path': '/dns-query', 'content-type': 'application/dns-message', 'content-length': '40' });
    req.write(Buffer.alloc(5));
    const status = await new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no 408 in 4 s')), 4000);
      req.on('response', (h) => { clearTimeout(t); resolve(Number(h[':status'])); });
      req.on('error', () => undefined);
    });
    assert.equal(status, 408);
    // The same connection still answers a good request.
    assert.equal((await dohGet(s, `/dns-query?dns=${b64(query('ok.example.'))}`)).status, 200);
  } finally {
    s.close();
  }
  // A client that trickles the HTTP/2 preface a byte at a time never makes a request: closed after the idle timeout (1.5 s).
  const trickle = tlsConnect({ host: '127.0.0.1', port: doh, ca: readFileSync(ca.ca), servername: TEST_TLS_NAME, ALPNProtocols: ['h2'] });
  await new Promise<void>((r) => trickle.once('secureConnect', () => r()));
  const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
  let i = 0;
  const drip = setInterval(() => { if (i < preface.length && !trickle.destroyed) trickle.write(preface.subarray(i, ++i)); }, 200);
  try {
    const ms = await closedWithin(trickle, 6000);
    assert.ok(ms < 4500, `trickler cut after ${ms} ms`);
  } finally {
    clearInterval(drip);
    trickle.destroy();
  }
  // Streams per connection are capped (SETTINGS_MAX_CONCURRENT_STREAMS = doh_max_streams).
  const s2 = h2();
  try {
    const settings = await new Promise<{ maxConcurrentStreams?: number }>((r) => s2.once('remoteSettings', r));
    assert.equal(settings.maxConcurrentStreams, 8);
  } finally {
    s2.close();
  }
  await stillServes();
});

test('DDR (RFC 9462): _dns.resolver.arpa SVCB names the DoT and DoH endpoints, and a client can use them', { skip }, async () => {
  const r = await run('dig', ['@127.0.0.1', '-p', String(udp), '+time=5', '+tries=1', '_dns.resolver.arpa', 'SVCB']);
  assert.match(r.out, /status: NOERROR/);
  assert.match(r.out, new RegExp(`_dns\\.resolver\\.arpa\\.\\s+120\\s+IN\\s+SVCB\\s+1 ${TEST_TLS_NAME}\\. alpn="dot" port=${dot} ipv4hint=127\\.0\\.0\\.1`));
  const m = new RegExp(`_dns\\.resolver\\.arpa\\.\\s+120\\s+IN\\s+SVCB\\s+2 ${TEST_TLS_NAME}\\. alpn="h2" port=(\\d+) ipv4hint=127\\.0\\.0\\.1 key7="(/[^{]+)\\{\\?dns\\}"`).exec(r.out);
  assert.ok(m, r.out);
  // Upgrade as a client would: DoH on the port and path the record gave.
  const up = await run('kdig', ['@127.0.0.1', '-p', m[1]!, `+tls-ca=${ca.ca}`, `+tls-hostname=${TEST_TLS_NAME}`, `+https=${m[2]}`, '+timeout=5', 'www.dpstream.tv', 'A']);
  assert.match(up.out, /EDE: 16 \(Censored\)/);
  // Anything else under resolver.arpa: NODATA, never resolved upstream.
  for (const [name, type] of [['_dns.resolver.arpa.', Type.A], ['other.resolver.arpa.', Type.SVCB]] as const) {
    const x = await ask(name, type, udp);
    assert.equal(x.rcode, Rcode.NOERROR);
    assert.equal(x.answers.length, 0);
  }
});

test('a new certificate on reload: new handshakes get it, open connections go on; a bad pair changes nothing', { skip }, async () => {
  const serialOf = (sock: TLSSocket) => sock.getPeerCertificate().serialNumber.toUpperCase();
  const old = await dotConnect();
  const s = h2();
  try {
    const oldSerial = serialOf(old.sock);
    assert.equal((await dohGet(s, `/dns-query?dns=${b64(query('before.example.'))}`)).status, 200);
    const next = makeServerCert(ca, 'second');
    copyFileSync(next.cert, join(dir, 'server.pem'));
    copyFileSync(next.key, join(dir, 'server.key'));
    await v.controlHandlers().reload!([]);
    const fresh = await dotConnect();
    try {
      assert.equal(serialOf(fresh.sock), new X509Certificate(readFileSync(next.cert)).serialNumber.toUpperCase());
      assert.notEqual(serialOf(fresh.sock), oldSerial);
    } finally {
      fresh.sock.destroy();
    }
    // The connections made before the reload still answer.
    old.sock.write(frame(query('after.example.', Type.A, { id: 9 })));
    assert.equal(decodeMessage((await readAnswers(old.sock, 1))[0]!).id, 9);
    assert.equal((await dohGet(s, `/dns-query?dns=${b64(query('after.example.'))}`)).status, 200);
    // A key that is not the certificate's: the reload fails, saying so, and the pair in use stays.
    const stray = makeStrayKey(dir, 'stray');
    copyFileSync(stray, join(dir, 'server.key'));
    await assert.rejects(Promise.resolve(v.controlHandlers().reload!([])), /does not match the certificate/);
    const still = await dotConnect();
    assert.equal(serialOf(still.sock), new X509Certificate(readFileSync(next.cert)).serialNumber.toUpperCase());
    still.sock.destroy();
    copyFileSync(next.key, join(dir, 'server.key'));
  } finally {
    old.sock.destroy();
    s.close();
  }
});

test('verdict check validates the pair: a match, a key of another certificate, an expiry close or past', { skip }, async () => {
  const cli = (file: string) => run('node', [join(process.cwd(), 'dist/src/cli.js'), 'check', '-c', join(dir, file)]);
  const good = await cli('verdict.yaml');
  assert.equal(good.code, 0, good.out);
  assert.match(good.out, /tls: .*server\.pem \(CN=dns\.verdict\.test; DNS:dns\.verdict\.test, IP Address:127\.0\.0\.1\) matches .*server\.key; valid until/);
  assert.match(good.out, /warning: tls: .* expires in \d days \(under 30\)/, 'a 3-day test certificate is warned about');
  const stray = makeStrayKey(dir, 'stray2');
  writeFileSync(join(dir, 'bad.yaml'), config().replace(`key_file: ${join(dir, 'server.key')}`, `key_file: ${stray}`));
  const bad = await cli('bad.yaml');
  assert.equal(bad.code, 1);
  assert.match(bad.out, /server\.tls: the key in .*stray2\.key does not match the certificate in .*server\.pem/);
  writeFileSync(join(dir, 'missing.yaml'), config().replace(`cert_file: ${join(dir, 'server.pem')}`, 'cert_file: nowhere.pem'));
  assert.match((await cli('missing.yaml')).out, /server\.tls\.cert_file .*nowhere\.pem: cannot read it \(ENOENT\)/);
  writeFileSync(join(dir, 'notls.yaml'), config().replace(/  tls: \{[^}]*\}\n/, ''));
  const notls = await cli('notls.yaml');
  assert.equal(notls.code, 1);
  assert.match(notls.out, /dot_listen and doh_listen need tls/);
  // Past its end (the clock moved, the certificate is real): refused.
  const { loadTlsPair } = await import('../src/resolver/encrypted/certs.js');
  assert.throws(() => loadTlsPair({ cert_file: 'server.pem', key_file: 'server.key' }, dir, new Date(Date.now() + 10 * 86_400_000)), /expired on/);
  assert.ok(sample(await metricsText(), `verdict_tls_certificate_expiry_seconds{file="${join(dir, 'server.pem')}"}`) > 86_400);
});

/** A reply from a message, for the padding unit check below. */
function answerFor(q: Message): Buffer {
  const m = emptyMessage({ id: q.id, qr: true, questions: q.questions, edns: makeEdns(1232) });
  return encodeMessage(m);
}

test('padding on the wire: multiples of 468, nothing added without EDNS, never past 65,535 bytes', async () => {
  const { padAnswer, queryIsPadded } = await import('../src/dns/padding.js');
  assert.equal(queryIsPadded(query('a.example.', Type.A, { pad: 0 })), true);
  assert.equal(queryIsPadded(query('a.example.')), false);
  assert.equal(queryIsPadded(query('a.example.', Type.A, { edns: false })), false);
  const padded = padAnswer(answerFor(decodeMessage(query('a.example.'))));
  assert.equal(padded.length, 468);
  assert.equal(decodeMessage(padded).edns!.options.find((o) => o.code === EdnsOption.PADDING)!.data.every((b) => b === 0), true);
  assert.equal(padAnswer(padded), padded, 'already padded: unchanged');
  const noEdns = encodeMessage(emptyMessage({ id: 1, qr: true }));
  assert.equal(padAnswer(noEdns), noEdns);
});
