/** TSIG (RFC 8945) on raw wire messages: requests, replies, error replies and multi-message streams. */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { Type } from '../src/dns/constants.js';
import { decodeMessage, emptyMessage, encodeMessage, makeQuery } from '../src/dns/message.js';
import { nameFromText } from '../src/dns/name.js';
import {
  findTsig, signRequest, tsigErrorReply, tsigKeyFromConfig, TsigError, TsigKeyring, TsigRcode, TsigSigner, TsigVerifier, verifyRequest,
} from '../src/rpz/transfer/tsig.js';

const SECRET = Buffer.alloc(32, 7).toString('base64');
const key = tsigKeyFromConfig('xfr-key', { algorithm: 'hmac-sha256', secret: SECRET });
const ring = new TsigKeyring([key]);
const T0 = Date.UTC(2024, 0, 15, 12, 0, 0);
const at = (ms: number) => () => ms;

function query(id = 1234): Buffer {
  return encodeMessage(makeQuery(id, nameFromText('feed.rpz.'), Type.AXFR));
}

function answer(id: number, n: number): Buffer {
  const m = emptyMessage({ id, qr: true, aa: true });
  m.answers.push({ name: nameFromText(`r${n}.feed.rpz.`), type: Type.A, class: 1, ttl: 60, rdata: Buffer.from([192, 0, 2, n]) });
  return encodeMessage(m);
}

function expectTsig(fn: () => unknown, code: number): void {
  assert.throws(fn, (e: unknown) => e instanceof TsigError && e.tsigError === code);
}

test('keys from the configuration: algorithms and secrets are checked', () => {
  assert.equal(key.algorithm, 'hmac-sha256');
  assert.equal(key.secret.length, 32);
  assert.equal(tsigKeyFromConfig('k', { algorithm: 'HMAC-SHA512.', secret: SECRET }).algorithm, 'hmac-sha512');
  assert.equal(tsigKeyFromConfig('k', { algorithm: 'hmac-md5.sig-alg.reg.int', secret: SECRET }).algorithm, 'hmac-md5');
  assert.throws(() => tsigKeyFromConfig('k', { algorithm: 'hmac-sha3', secret: SECRET }), /unknown algorithm/);
  assert.throws(() => tsigKeyFromConfig('k', { algorithm: 'hmac-sha256', secret: 'not base64!' }), /not base64/);
  assert.equal(ring.get('XFR-KEY.'), key, 'key names compare case-insensitively');
});

test('a signed request verifies and gives back the message as it was', () => {
  const raw = query();
  const { wire, mac } = signRequest(raw, key, at(T0));
  assert.equal(wire.readUInt16BE(10), 1, 'ARCOUNT counts the TSIG');
  const found = findTsig(wire)!;
  assert.equal(found.start, raw.length, 'TSIG appended after the encoded message');
  assert.equal(found.fields.mac.length, 32);
  const v = verifyRequest(wire, ring, at(T0 + 10_000));
  assert.equal(v.status, 'ok');
  if (v.status !== 'ok') return;
  assert.deepEqual(v.mac, mac);
  assert.deepEqual(v.message, raw);
  assert.equal(decodeMessage(wire).additionals.at(-1)!.type, Type.TSIG, 'still a decodable message');
  assert.equal(verifyRequest(raw, ring).status, 'unsigned');
});

test('every algorithm signs and verifies', () => {
  for (const algorithm of ['hmac-md5', 'hmac-sha1', 'hmac-sha224', 'hmac-sha256', 'hmac-sha384', 'hmac-sha512']) {
    const k = tsigKeyFromConfig(`${algorithm}-key`, { algorithm, secret: SECRET });
    const { wire } = signRequest(query(), k, at(T0));
    assert.equal(verifyRequest(wire, new TsigKeyring([k]), at(T0)).status, 'ok', algorithm);
  }
});

test('a tampered message is BADSIG', () => {
  const { wire } = signRequest(query(), key, at(T0));
  const bad = Buffer.from(wire);
  bad[14] ^= 0x20; // the case of one letter of the question: the MAC covers exact bytes
  const v = verifyRequest(bad, ring, at(T0));
  assert.equal(v.status, 'failed');
  assert.equal(v.status === 'failed' && v.error, TsigRcode.BADSIG);
  // The same key name with another secret is BADSIG too.
  const other = tsigKeyFromConfig('xfr-key', { algorithm: 'hmac-sha256', secret: Buffer.alloc(32, 9).toString('base64') });
  const v2 = verifyRequest(signRequest(query(), other, at(T0)).wire, ring, at(T0));
  assert.equal(v2.status === 'failed' && v2.error, TsigRcode.BADSIG);
});

test('an unknown key or algorithm is BADKEY', () => {
  const stranger = tsigKeyFromConfig('stranger', { algorithm: 'hmac-sha256', secret: SECRET });
  const v = verifyRequest(signRequest(query(), stranger, at(T0)).wire, ring, at(T0));
  assert.equal(v.status === 'failed' && v.error, TsigRcode.BADKEY);
  const sameNameOtherAlg = tsigKeyFromConfig('xfr-key', { algorithm: 'hmac-sha512', secret: SECRET });
  const v2 = verifyRequest(signRequest(query(), sameNameOtherAlg, at(T0)).wire, ring, at(T0));
  assert.equal(v2.status === 'failed' && v2.error, TsigRcode.BADKEY);
});

test('a time outside the fudge is BADTIME, and the error reply is signed with the server time', () => {
  const { wire } = signRequest(query(), key, at(T0));
  assert.equal(verifyRequest(wire, ring, at(T0 + 299_000)).status, 'ok', 'inside the 300 s fudge');
  const v = verifyRequest(wire, ring, at(T0 + 301_000));
  assert.equal(v.status === 'failed' && v.error, TsigRcode.BADTIME);
  if (v.status !== 'failed') return;
  // The client can verify the BADTIME reply against its request MAC, and read the error.
  const reply = encodeMessage(emptyMessage({ id: 1234, qr: true, rcode: 9 }));
  const signed = tsigErrorReply(reply, v, at(T0 + 301_000));
  const found = findTsig(signed)!;
  assert.equal(found.fields.error, TsigRcode.BADTIME);
  assert.equal(found.fields.other.length, 6);
  const verifier = new TsigVerifier(key, v.mac!, at(T0));
  expectTsig(() => verifier.verify(signed), TsigRcode.BADTIME);
});

test('BADKEY and BADSIG replies carry an unsigned TSIG naming the error', () => {
  const { wire, mac } = signRequest(query(), tsigKeyFromConfig('xfr-key', { algorithm: 'hmac-sha256', secret: Buffer.alloc(32, 1).toString('base64') }), at(T0));
  const v = verifyRequest(wire, ring, at(T0));
  assert.equal(v.status, 'failed');
  if (v.status !== 'failed') return;
  const reply = tsigErrorReply(encodeMessage(emptyMessage({ id: 1234, qr: true, rcode: 9 })), v, at(T0));
  const found = findTsig(reply)!;
  assert.equal(found.fields.mac.length, 0);
  assert.equal(found.fields.error, TsigRcode.BADSIG);
  expectTsig(() => new TsigVerifier(key, mac, at(T0)).verify(reply), TsigRcode.BADSIG);
});

test('a TSIG that is not the last record is FORMERR', () => {
  const { wire } = signRequest(query(), key, at(T0));
  const m = decodeMessage(wire);
  m.additionals.push({ name: nameFromText('x.'), type: Type.A, class: 1, ttl: 0, rdata: Buffer.from([1, 2, 3, 4]) });
  const v = verifyRequest(encodeMessage(m), ring, at(T0));
  assert.equal(v.status === 'failed' && v.error, 1);
});

test('a multi-message stream chains each MAC to the previous one (RFC 8945 5.3.1)', () => {
  const req = signRequest(query(77), key, at(T0));
  const signer = new TsigSigner(key, req.mac, at(T0 + 1000));
  const msgs = [answer(77, 1), answer(77, 2), answer(77, 3)];
  const signed = msgs.map((m) => signer.sign(m));

  const ok = new TsigVerifier(key, req.mac, at(T0 + 2000));
  signed.forEach((s, i) => assert.deepEqual(ok.verify(s), msgs[i]));
  ok.end();

  // Out of order: the chain breaks.
  const reordered = new TsigVerifier(key, req.mac, at(T0 + 2000));
  reordered.verify(signed[0]!);
  expectTsig(() => reordered.verify(signed[2]!), TsigRcode.BADSIG);

  // Chained to another request: the first message already fails.
  const otherReq = signRequest(query(78), key, at(T0));
  expectTsig(() => new TsigVerifier(key, otherReq.mac, at(T0)).verify(signed[0]!), TsigRcode.BADSIG);

  // An unsigned first message is refused.
  expectTsig(() => new TsigVerifier(key, req.mac, at(T0)).verify(msgs[0]!), TsigRcode.BADSIG);
});

test('unsigned messages in between are covered by the next signed one; the last must be signed', () => {
  const req = signRequest(query(5), key, at(T0));
  const msgs = [answer(5, 1), answer(5, 2), answer(5, 3), answer(5, 4)];
  // A sparse signer (RFC 2845 style): signs messages 1 and 4, digests 2 and 3 into the MAC of 4.
  const first = new TsigSigner(key, req.mac, at(T0)).sign(msgs[0]!);
  const firstMac = findTsig(first)!.fields.mac;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(firstMac.length);
  // Build the last signature by hand from the spec's digest components.
  const timers = Buffer.alloc(8);
  timers.writeUInt16BE(0, 0);
  timers.writeUInt32BE(Math.floor(T0 / 1000), 2);
  timers.writeUInt16BE(300, 6);
  const mac = createHmac('sha256', key.secret).update(Buffer.concat([len, firstMac, msgs[1]!, msgs[2]!, msgs[3]!, timers])).digest();
  // Lay the record out with our signer, then put the hand-made MAC in place of its own.
  const lastSigned = new TsigSigner(key, undefined, at(T0)).sign(msgs[3]!);
  const f = findTsig(lastSigned)!;
  const macAt = f.start + key.name.length + 10 + 'hmac-sha256.'.length + 1 + 10;
  mac.copy(lastSigned, macAt);

  const v = new TsigVerifier(key, req.mac, at(T0));
  v.verify(first);
  v.verify(msgs[1]!);
  v.verify(msgs[2]!);
  assert.deepEqual(v.verify(lastSigned), msgs[3]);
  v.end();

  const cut = new TsigVerifier(key, req.mac, at(T0));
  cut.verify(first);
  cut.verify(msgs[1]!);
  assert.throws(() => cut.end(), TsigError);
});
