/**
 * The secondary's side of zone transfers: IXFR (RFC 1995) with a fall back
 * to AXFR (RFC 5936) over TCP, and the SOA query of a refresh check.
 *
 * Reading a transfer is a state machine without I/O (`XfrReader`, fed one
 * decoded message at a time) and a small TCP driver around it, so the
 * protocol rules are tested without sockets and the driver stays dumb.
 */
import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { Class, Rcode, Type, rcodeToText } from '../../dns/constants.js';
import { decodeMessage, encodeMessage, makeQuery, WireError } from '../../dns/message.js';
import type { Message, Record } from '../../dns/message.js';
import { Name, ROOT, isSubdomain, nameKey, nameToText } from '../../dns/name.js';
import { TransferError } from './errors.js';
import { findTsig, signRequest, TsigError, TsigVerifier } from './tsig.js';
import type { TsigKey } from './tsig.js';
import { serialGt, soaRdata, soaSerial, describeRecord } from './zonedata.js';
import type { ZoneDiff } from './zonedata.js';

export type FetchResult =
  | { kind: 'axfr'; soa: Record; records: Record[] }
  | { kind: 'ixfr'; soa: Record; diffs: ZoneDiff[] }
  | { kind: 'uptodate'; serial: number };

export interface FetchOptions {
  address: string;
  port: number;
  zone: Name;
  /** Our current serial: asks IXFR from it. Without it, AXFR. */
  serial?: number;
  tsig?: TsigKey;
  /** Overall limit for the whole fetch, fall back included. */
  timeoutMs: number;
  /** Most records accepted in one transfer (every record of an IXFR counts). */
  maxRecords: number;
  /** Skip IXFR even with a serial (after differences failed to apply). */
  axfrOnly?: boolean;
  /** Clock for TSIG times. */
  now?: () => number;
}

/** RFC 6895 3.1: meta-types and QTYPEs are never zone data. */
function isMetaType(t: number): boolean {
  return t === 0 || t === Type.OPT || (t >= 128 && t <= 255);
}

/** Raised inside an IXFR attempt when the primary cannot serve IXFR; `fetchZone` then asks AXFR. */
class IxfrUnavailable extends Error {}

/**
 * Reads one AXFR or IXFR response stream, message by message, checking it as
 * it goes: the first record is the zone's SOA; every record is class IN and
 * inside the zone; serials chain; the stream ends exactly at the final SOA.
 */
export class XfrReader {
  private first: Record | undefined;
  private newSerial = 0;
  private mode: 'unknown' | 'axfr' | 'ixfr';
  private readonly records: Record[] = [];
  private readonly diffs: ZoneDiff[] = [];
  private cur: ZoneDiff | undefined;
  private phase: 'del' | 'add' = 'del';
  private count = 0;
  private messages = 0;
  private done = false;
  private uptodate = false;
  /** The first message held only the SOA, newer than ours: the primary may be saying "no IXFR, ask AXFR". */
  loneNewerSoa = false;

  constructor(
    private readonly zone: Name,
    private readonly qtype: number,
    private readonly id: number,
    private readonly clientSerial: number | undefined,
    private readonly maxRecords: number,
  ) {
    this.mode = qtype === Type.AXFR ? 'axfr' : 'unknown';
  }

  private malformed(why: string): never {
    throw new TransferError('VERDICT_ERR_XFR_MALFORMED', `${nameToText(this.zone)}: ${why}`);
  }

  /** Feed the next message; true when the transfer is complete. */
  push(m: Message): boolean {
    if (this.done) this.malformed('a message after the end of the transfer');
    if (m.id !== this.id || !m.qr || m.opcode !== 0) this.malformed(`a message that does not answer our query (id ${m.id}, qr ${m.qr}, opcode ${m.opcode})`);
    if (m.rcode !== Rcode.NOERROR) {
      throw new TransferError('VERDICT_ERR_XFR_RCODE', `${nameToText(this.zone)}: the primary answered ${rcodeToText(m.rcode)}`, { rcode: m.rcode });
    }
    if (m.tc) this.malformed('a truncated message over TCP');
    // RFC 5936 2.2.1: the question, when present, repeats ours.
    if (m.questions.length > 1) this.malformed('more than one question');
    const q = m.questions[0];
    if (q && (nameKey(q.name) !== nameKey(this.zone) || q.type !== this.qtype || q.class !== Class.IN)) this.malformed('the question does not match ours');
    if (this.messages++ === 0 && m.answers.length === 0) this.malformed('the first message has no records');
    const n = m.answers.length;
    for (let i = 0; i < n; i++) {
      const rr = m.answers[i]!;
      if (++this.count > this.maxRecords) {
        throw new TransferError('VERDICT_ERR_XFR_TOO_LARGE', `${nameToText(this.zone)}: more than ${this.maxRecords} records (max_records)`);
      }
      if (rr.class !== Class.IN) this.malformed(`${describeRecord(rr)} has class ${rr.class}, not IN`);
      if (isMetaType(rr.type)) this.malformed(`meta-type ${rr.type} in the zone data`);
      if (!isSubdomain(rr.name, this.zone)) {
        throw new TransferError('VERDICT_ERR_XFR_OUT_OF_ZONE', `${nameToText(this.zone)}: ${describeRecord(rr)} is outside the zone`);
      }
      this.record(rr);
      if (this.done && i !== n - 1) this.malformed('records after the final SOA');
    }
    if (this.messages === 1 && n === 1 && this.mode === 'unknown') {
      // RFC 1995 4: a lone SOA means "you are up to date" when it is not newer than ours.
      if (this.clientSerial !== undefined && !serialGt(this.newSerial, this.clientSerial)) {
        this.done = true;
        this.uptodate = true;
      } else {
        this.loneNewerSoa = true;
      }
    } else {
      this.loneNewerSoa = false;
    }
    return this.done;
  }

  private isApexSoa(rr: Record): boolean {
    if (rr.type !== Type.SOA) return false;
    if (nameKey(rr.name) !== nameKey(this.zone)) this.malformed(`an SOA record below the apex at ${nameToText(rr.name)}`);
    if (rr.rdata.length < 22) this.malformed('a malformed SOA record');
    return true;
  }

  private record(rr: Record): void {
    if (!this.first) {
      if (!this.isApexSoa(rr)) this.malformed(`the first record is ${describeRecord(rr)}, not the zone's SOA`);
      this.first = rr;
      this.newSerial = soaSerial(rr.rdata);
      return;
    }
    if (this.mode === 'unknown') {
      // RFC 1995 4: a second SOA carrying our serial starts incremental differences; anything else is AXFR-style.
      if (this.isApexSoa(rr) && this.clientSerial !== undefined && soaSerial(rr.rdata) === this.clientSerial && this.clientSerial !== this.newSerial) {
        this.mode = 'ixfr';
        this.cur = { from: this.clientSerial, to: this.clientSerial, deleted: [rr], added: [] };
        this.phase = 'del';
        return;
      }
      this.mode = 'axfr';
    }
    if (this.mode === 'axfr') {
      if (this.isApexSoa(rr)) {
        // RFC 5936 2.2: the transfer ends with the SOA it began with.
        if (soaSerial(rr.rdata) !== this.newSerial) this.malformed(`the closing SOA has serial ${soaSerial(rr.rdata)}, the opening one ${this.newSerial}`);
        this.done = true;
        return;
      }
      this.records.push(rr);
      return;
    }
    const cur = this.cur!;
    if (this.phase === 'del') {
      if (this.isApexSoa(rr)) {
        cur.to = soaSerial(rr.rdata);
        cur.added.push(rr);
        this.phase = 'add';
      } else {
        cur.deleted.push(rr);
      }
      return;
    }
    if (!this.isApexSoa(rr)) {
      cur.added.push(rr);
      return;
    }
    const serial = soaSerial(rr.rdata);
    if (serial === this.newSerial && cur.to === this.newSerial) {
      this.diffs.push(cur);
      this.done = true;
      return;
    }
    // RFC 1995 4: each sequence starts where the previous one ended.
    if (serial !== cur.to) this.malformed(`a difference starts at serial ${serial} after one that ended at ${cur.to}`);
    this.diffs.push(cur);
    this.cur = { from: serial, to: serial, deleted: [rr], added: [] };
    this.phase = 'del';
  }

  result(): FetchResult {
    if (!this.done) this.malformed('the transfer is incomplete');
    if (this.uptodate) return { kind: 'uptodate', serial: this.newSerial };
    if (this.mode === 'ixfr') return { kind: 'ixfr', soa: this.first!, diffs: this.diffs };
    return { kind: 'axfr', soa: this.first!, records: [this.first!, ...this.records] };
  }
}

// ---------------------------------------------------------------- TCP driver

function frame(wire: Buffer): Buffer {
  const out = Buffer.allocUnsafe(wire.length + 2);
  out.writeUInt16BE(wire.length, 0);
  wire.copy(out, 2);
  return out;
}

/**
 * Send one query over TCP and hand each response message (RFC 1035 4.2.2
 * framing) to `onMessage` until it returns true. A close, an error or the
 * deadline before that rejects with a TransferError.
 */
export function tcpStream(address: string, port: number, query: Buffer, timeoutMs: number, onMessage: (wire: Buffer) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    let finished = false;
    let connected = false;
    const sock = connect({ host: address, port, noDelay: true });
    const finish = (err?: Error) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => finish(new TransferError('VERDICT_ERR_XFR_TIMEOUT', `no complete answer from ${address} port ${port} within ${timeoutMs} ms`)), Math.max(1, timeoutMs));
    sock.on('connect', () => {
      connected = true;
      sock.write(frame(query));
    });
    sock.on('data', (chunk) => {
      if (finished) return;
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = Buffer.from(buf.subarray(2, 2 + len));
        buf = buf.subarray(2 + len);
        let done: boolean;
        try {
          done = onMessage(msg);
        } catch (e) {
          finish(e as Error);
          return;
        }
        if (done) {
          finish();
          return;
        }
      }
    });
    sock.on('error', (e) => finish(connected
      ? new TransferError('VERDICT_ERR_XFR_CLOSED', `connection to ${address} port ${port} failed mid-transfer: ${e.message}`)
      : new TransferError('VERDICT_ERR_XFR_CONNECT', `cannot connect to ${address} port ${port}: ${e.message}`)));
    sock.on('close', () => finish(new TransferError('VERDICT_ERR_XFR_CLOSED', `${address} port ${port} closed the connection before the transfer was complete`)));
  });
}

/** The SOA we put in an IXFR query's authority section: only its serial matters (RFC 1995 3). */
function ourSoa(zone: Name, serial: number): Record {
  return { name: zone, type: Type.SOA, class: Class.IN, ttl: 0, rdata: soaRdata({ mname: ROOT, rname: ROOT, serial, refresh: 0, retry: 0, expire: 0, minimum: 0 }) };
}

interface Prepared {
  id: number;
  wire: Buffer;
  /** Verifies (and strips) the TSIG of each response message; identity without a key. */
  check: (raw: Buffer) => Buffer;
  end: () => void;
}

function prepare(m: Message, zone: Name, tsig: TsigKey | undefined, now: () => number): Prepared {
  let wire = encodeMessage(m);
  if (!tsig) return { id: m.id, wire, check: (raw) => raw, end: () => undefined };
  const signed = signRequest(wire, tsig, now);
  wire = signed.wire;
  const verifier = new TsigVerifier(tsig, signed.mac, now);
  const where = nameToText(zone);
  const tsigFail = (e: unknown): never => {
    if (e instanceof TsigError) throw new TransferError('VERDICT_ERR_XFR_TSIG', `${where}: ${e.message}`, { tsigError: e.tsigError });
    throw e;
  };
  return {
    id: m.id, wire,
    check: (raw) => {
      // An unsigned error reply (REFUSED from an ACL, say) is reported by its rcode, not as a TSIG failure.
      if (raw.length >= 12 && (raw[3]! & 0xf) !== 0 && safeFindTsig(raw) === undefined) return raw;
      try {
        return verifier.verify(raw);
      } catch (e) {
        return tsigFail(e);
      }
    },
    end: () => {
      try {
        verifier.end();
      } catch (e) {
        tsigFail(e);
      }
    },
  };
}

function safeFindTsig(raw: Buffer): unknown {
  try {
    return findTsig(raw);
  } catch {
    return null;
  }
}

function decode(raw: Buffer, zone: Name): Message {
  try {
    return decodeMessage(raw);
  } catch (e) {
    if (e instanceof WireError) throw new TransferError('VERDICT_ERR_XFR_MALFORMED', `${nameToText(zone)}: undecodable message: ${e.message}`);
    throw e;
  }
}

async function transferOnce(opts: FetchOptions, qtype: number, timeoutMs: number): Promise<FetchResult> {
  const now = opts.now ?? Date.now;
  const q = makeQuery(randomInt(0, 0x10000), opts.zone, qtype);
  if (qtype === Type.IXFR) q.authorities.push(ourSoa(opts.zone, opts.serial!));
  const p = prepare(q, opts.zone, opts.tsig, now);
  const reader = new XfrReader(opts.zone, qtype, p.id, qtype === Type.IXFR ? opts.serial : undefined, opts.maxRecords);
  try {
    await tcpStream(opts.address, opts.port, p.wire, timeoutMs, (raw) => {
      const m = decode(p.check(raw), opts.zone);
      if (qtype === Type.IXFR && (m.rcode === Rcode.NOTIMP || m.rcode === Rcode.FORMERR || m.rcode === Rcode.REFUSED)) {
        // RFC 1995 2 leaves IXFR optional: a primary without it answers NOTIMP, FORMERR or REFUSED.
        throw new IxfrUnavailable(rcodeToText(m.rcode));
      }
      const done = reader.push(m);
      if (done) p.end();
      return done;
    });
  } catch (e) {
    if (qtype === Type.IXFR && reader.loneNewerSoa && e instanceof TransferError && e.code === 'VERDICT_ERR_XFR_CLOSED') {
      throw new IxfrUnavailable('a lone newer SOA');
    }
    throw e;
  }
  return reader.result();
}

/**
 * Transfer a zone from its primary: IXFR from `serial` when given, else (or
 * when the primary cannot do IXFR) AXFR. Rejects with TransferError; never
 * returns a partial zone.
 */
export async function fetchZone(opts: FetchOptions): Promise<FetchResult> {
  const deadline = Date.now() + opts.timeoutMs;
  if (opts.serial !== undefined && !opts.axfrOnly) {
    try {
      return await transferOnce(opts, Type.IXFR, opts.timeoutMs);
    } catch (e) {
      if (!(e instanceof IxfrUnavailable)) throw e;
    }
  }
  const left = deadline - Date.now();
  if (left <= 0) throw new TransferError('VERDICT_ERR_XFR_TIMEOUT', `${nameToText(opts.zone)}: no time left for AXFR after IXFR failed`);
  return transferOnce(opts, Type.AXFR, left);
}

// ---------------------------------------------------------------- SOA query

export interface SoaQueryOptions {
  address: string;
  port: number;
  zone: Name;
  tsig?: TsigKey;
  timeoutMs: number;
  now?: () => number;
}

function udpExchange(address: string, port: number, wire: Buffer, id: number, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const s = createSocket(address.includes(':') ? 'udp6' : 'udp4');
    let settled = false;
    const done = (v: Buffer | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(t);
      s.close();
      resolve(v);
    };
    const t = setTimeout(() => done(undefined), Math.max(1, timeoutMs));
    s.on('error', () => done(undefined));
    s.on('message', (msg, rinfo) => {
      // Only the server we asked, with our ID, may answer (RFC 5452 9.1).
      if (rinfo.port !== port || msg.length < 12 || msg.readUInt16BE(0) !== id) return;
      done(msg);
    });
    s.send(wire, port, address, (err) => { if (err) done(undefined); });
  });
}

function soaFromReply(m: Message, id: number, zone: Name): Record {
  const where = nameToText(zone);
  if (m.id !== id || !m.qr) throw new TransferError('VERDICT_ERR_XFR_MALFORMED', `${where}: a reply that does not answer our SOA query`);
  const q = m.questions[0];
  if (!q || nameKey(q.name) !== nameKey(zone) || q.type !== Type.SOA) throw new TransferError('VERDICT_ERR_XFR_MALFORMED', `${where}: the SOA reply has another question`);
  if (m.rcode !== Rcode.NOERROR) throw new TransferError('VERDICT_ERR_XFR_RCODE', `${where}: the primary answered ${rcodeToText(m.rcode)} to the SOA query`, { rcode: m.rcode });
  // RFC 1034 4.3.5: the refresh check needs the authoritative SOA of the zone itself.
  const soa = m.answers.find((rr) => rr.type === Type.SOA && nameKey(rr.name) === nameKey(zone) && rr.rdata.length >= 22);
  if (!m.aa || !soa) throw new TransferError('VERDICT_ERR_XFR_MALFORMED', `${where}: the primary did not answer the SOA query authoritatively`);
  return soa;
}

/** The primary's SOA for a refresh check: UDP, then TCP when truncated or when UDP gets no answer. */
export async function querySoa(opts: SoaQueryOptions): Promise<{ serial: number; soa: Record }> {
  const now = opts.now ?? Date.now;
  const deadline = Date.now() + opts.timeoutMs;
  const q = makeQuery(randomInt(0, 0x10000), opts.zone, Type.SOA);
  const p = prepare(q, opts.zone, opts.tsig, now);
  const raw = await udpExchange(opts.address, opts.port, p.wire, p.id, opts.timeoutMs / 2);
  if (raw && (raw[2]! & 0x02) === 0) {
    const m = decode(p.check(raw), opts.zone);
    if (m.rcode === Rcode.NOERROR) p.end(); // an unsigned error reply is reported by its rcode
    const soa = soaFromReply(m, p.id, opts.zone);
    return { serial: soaSerial(soa.rdata), soa };
  }
  // Truncated or lost: once more over TCP (RFC 7766 5), with a fresh signature.
  const t = prepare({ ...q, id: randomInt(0, 0x10000) }, opts.zone, opts.tsig, now);
  let reply: Message | undefined;
  await tcpStream(opts.address, opts.port, t.wire, Math.max(1, deadline - Date.now()), (w) => {
    reply = decode(t.check(w), opts.zone);
    if (reply.rcode === Rcode.NOERROR) t.end();
    return true;
  });
  const soa = soaFromReply(reply!, t.id, opts.zone);
  return { serial: soaSerial(soa.rdata), soa };
}
