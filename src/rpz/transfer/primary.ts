/**
 * Verdict as a primary for the RPZ zones it builds (the compiled court
 * orders): other resolver fleets pull them over AXFR (RFC 5936) and IXFR
 * (RFC 1995) and are told of each new version by NOTIFY (RFC 1996).
 *
 * `ZonePublisher` holds each zone's current version and a bounded history of
 * differences; `TransferStage` answers AXFR, IXFR, NOTIFY and the SOA
 * queries secondaries poll with, right after decode in the pipeline;
 * `sendNotify` tells secondaries of a new version.
 */
import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { Class, Ede, Opcode, Rcode, Type } from '../../dns/constants.js';
import { addEde, makeEdns } from '../../dns/edns.js';
import { decodeMessage, emptyMessage, encodeMessage } from '../../dns/message.js';
import type { Message, Record } from '../../dns/message.js';
import { Name, isSubdomain, nameKey, nameToText } from '../../dns/name.js';
import type { AccessList } from '../../resolver/acl.js';
import type { RequestContext, Stage, StageResult } from '../../resolver/context.js';
import { findTsig, RCODE_NOTAUTH, signRequest, TsigError, TsigKeyring, TsigSigner, tsigErrorReply, tsigSize, TsigVerifier, verifyRequest } from './tsig.js';
import type { TsigKey } from './tsig.js';
import { computeDiff, rrKey, serialGt, soaSerial, withSerial } from './zonedata.js';
import type { ZoneDiff } from './zonedata.js';

// ---------------------------------------------------------------- publisher

export interface PublishedZone {
  readonly name: Name;
  readonly serial: number;
  /** The complete zone, SOA first, without duplicates. */
  readonly records: readonly Record[];
  /** Consecutive differences, oldest first; the last one ends at `serial`. */
  readonly history: readonly ZoneDiff[];
  /** Name of the TSIG key AXFR/IXFR of this zone must be signed with, if any. */
  readonly tsig?: Name;
}

export interface NotifyTarget {
  address: string;
  port: number;
}

export interface ZonePublisherOptions {
  /** Differences kept per zone for IXFR (default 20); older serials get a full AXFR-style answer. */
  historySize?: number;
  /** Secondaries told of every new version (`transfer.notify`). */
  notify?: NotifyTarget[];
  notifyOptions?: NotifyOptions;
  /** Outcome of the NOTIFYs sent after a publish (for logs). */
  onNotifyResult?(zone: PublishedZone, outcomes: NotifyOutcome[]): void;
}

export class PublishError extends Error {
  readonly code = 'VERDICT_ERR_XFR_PUBLISH';
  override readonly name = 'PublishError';
}

/** The zones Verdict serves to secondaries. Versions are immutable and swapped whole. */
export class ZonePublisher {
  private readonly zones = new Map<string, PublishedZone>();

  constructor(private readonly opts: ZonePublisherOptions = {}) {}

  get size(): number {
    return this.zones.size;
  }

  get(zone: Name): PublishedZone | undefined {
    return this.zones.get(nameKey(zone));
  }

  names(): Name[] {
    return [...this.zones.values()].map((z) => z.name);
  }

  remove(zone: Name): boolean {
    return this.zones.delete(nameKey(zone));
  }

  /**
   * Publish a version of a zone. `records` must hold the zone's SOA (its
   * serial is replaced by `serial`); records outside the zone or not class IN
   * are refused. The serial must be later than the last one (RFC 1982), or
   * equal with the same content (then nothing changes). The difference from
   * the previous version joins the IXFR history, and the `notify` targets are
   * told (RFC 1996 3.5).
   */
  publish(zone: Name, records: readonly Record[], serial: number, opts: { tsig?: Name } = {}): PublishedZone {
    const where = nameToText(zone);
    let soa: Record | undefined;
    const rest: Record[] = [];
    const seen = new Set<string>();
    for (const rr of records) {
      if (rr.class !== Class.IN) throw new PublishError(`${where}: ${nameToText(rr.name)} is not class IN`);
      if (!isSubdomain(rr.name, zone)) throw new PublishError(`${where}: ${nameToText(rr.name)} is outside the zone`);
      if (rr.type === Type.SOA) {
        if (nameKey(rr.name) !== nameKey(zone) || soa) throw new PublishError(`${where}: one SOA, at the apex, is allowed`);
        soa = { ...rr, rdata: withSerial(rr.rdata, serial) };
        continue;
      }
      const k = rrKey(rr);
      if (seen.has(k)) continue; // RFC 2181 5: an RRset holds no duplicates
      seen.add(k);
      rest.push(rr);
    }
    if (!soa) throw new PublishError(`${where}: the zone has no SOA`);
    const all = [soa, ...rest];
    const prev = this.zones.get(nameKey(zone));
    let history: ZoneDiff[] = [];
    if (prev) {
      const diff = computeDiff(prev.records, all);
      const unchanged = diff.deleted.length === 1 && diff.added.length === 1 && prev.records[0]!.rdata.equals(soa.rdata) && prev.records[0]!.ttl === soa.ttl;
      if (serial === prev.serial) {
        if (unchanged && (prev.tsig ? nameKey(prev.tsig) : '') === (opts.tsig ? nameKey(opts.tsig) : '')) return prev;
        throw new PublishError(`${where}: serial ${serial} is already published with other content; secondaries would never see the change`);
      }
      if (!serialGt(serial, prev.serial)) throw new PublishError(`${where}: serial ${serial} is not later than ${prev.serial} (RFC 1982)`);
      history = [...prev.history, diff].slice(-(this.opts.historySize ?? 20));
    }
    const published: PublishedZone = { name: zone, serial, records: all, history, ...(opts.tsig ? { tsig: opts.tsig } : {}) };
    this.zones.set(nameKey(zone), published);
    const targets = this.opts.notify ?? [];
    if (targets.length > 0) {
      void sendNotify(targets, zone, serial, { ...this.opts.notifyOptions, soa }).then((out) => this.opts.onNotifyResult?.(published, out));
    }
    return published;
  }
}

// ---------------------------------------------------------------- stage

export interface TransferStageOptions {
  publisher: ZonePublisher;
  /** Clients allowed AXFR/IXFR (`transfer.allow`). */
  allow: AccessList;
  /** Every configured key (`tsig_keys`): signed requests are verified and answered signed. */
  keys?: TsigKeyring;
  /** Key that AXFR/IXFR must be signed with for zones published without their own (`transfer.tsig`). */
  requireTsig?: Name;
  /** A NOTIFY for `zone` from `from`: true when accepted (a secondary zone whose primary sent it). */
  onNotify?(zone: Name, from: string, serial: number | undefined): boolean;
  /**
   * Every AXFR/IXFR request for a zone served here, answered (`served`: axfr, ixfr, ixfr-uptodate,
   * ixfr-axfr, ixfr-udp) or not (`refused`, `notauth`, `formerr`); for verdict_zone_transfers_served_total.
   */
  onTransfer?(zone: Name, kind: 'axfr' | 'ixfr', result: string): void;
  now?: () => number;
  /** Largest message of a transfer stream (default 16 KiB). */
  maxMessageSize?: number;
}

/** The outcome of a transfer that was not served, from its reply's RCODE. */
function rcodeResult(wire: Buffer): string {
  const rcode = wire[3]! & 0xf;
  return rcode === Rcode.REFUSED ? 'refused' : rcode === RCODE_NOTAUTH ? 'notauth' : rcode === Rcode.FORMERR ? 'formerr' : `rcode-${rcode}`;
}

function hasTsig(q: Message): boolean {
  return q.additionals.length > 0 && q.additionals[q.additionals.length - 1]!.type === Type.TSIG;
}

/**
 * Answers zone transfers, NOTIFY, and SOA queries for published zones from
 * transfer clients. Sits right after decode (built with `transfers = true`),
 * before client access control: transfers have their own ACL. Ordinary
 * queries pass through at the cost of one property read.
 */
export class TransferStage implements Stage {
  readonly name = 'transfer';
  private readonly keys: TsigKeyring;
  private readonly now: () => number;
  private readonly maxMessage: number;

  constructor(private readonly opts: TransferStageOptions) {
    this.keys = opts.keys ?? new TsigKeyring();
    this.now = opts.now ?? Date.now;
    this.maxMessage = opts.maxMessageSize ?? 16384;
  }

  handle(ctx: RequestContext): StageResult {
    const q = ctx.query;
    if (ctx.notes.transfer !== true) {
      if (q === undefined || q.opcode !== Opcode.QUERY || q.questions[0]?.type !== Type.SOA || this.opts.publisher.size === 0) return 'next';
      // Secondaries poll the SOA before each transfer (RFC 1034 4.3.5): answer it for our zones, to transfer clients only.
      if (!this.opts.publisher.get(q.questions[0].name) || !this.opts.allow.allows(ctx.client.address)) return 'next';
    }
    if (!q) return 'next';
    ctx.notes.transfer = true;
    let signer: TsigSigner | undefined;
    if (hasTsig(q)) {
      // RFC 8945 5.2: check the request's TSIG before anything else; a signed request gets signed replies.
      const v = verifyRequest(ctx.raw, this.keys, this.now);
      if (v.status === 'failed') {
        ctx.notes.error = `TSIG: ${v.reason}`;
        ctx.wire = v.error === 1 ? this.encode(this.reply(q, Rcode.FORMERR)) : tsigErrorReply(this.encode(this.reply(q, RCODE_NOTAUTH)), v, this.now);
        return 'answered';
      }
      if (v.status === 'ok') {
        signer = new TsigSigner(v.key, v.mac, this.now);
        ctx.notes.tsigKey = nameToText(v.key.name);
      }
    }
    if (q.opcode === Opcode.NOTIFY) return this.notify(ctx, q, signer);
    const question = q.questions[0]!;
    if (question.type === Type.SOA) return this.soa(ctx, q, signer);
    return this.transfer(ctx, q, signer);
  }

  private reply(q: Message, rcode: number): Message {
    return emptyMessage({
      id: q.id, qr: true, opcode: q.opcode, aa: rcode === Rcode.NOERROR, rd: q.rd, rcode,
      questions: q.questions.slice(0, 1),
      ...(q.edns ? { edns: makeEdns(1232) } : {}),
    });
  }

  private encode(m: Message, signer?: TsigSigner): Buffer {
    const wire = encodeMessage(m);
    return signer ? signer.sign(wire) : wire;
  }

  private fail(ctx: RequestContext, q: Message, rcode: number, signer: TsigSigner | undefined, why: string, ede?: number): StageResult {
    const m = this.reply(q, rcode);
    if (ede !== undefined) addEde(m, ede, why);
    ctx.notes.error = why;
    ctx.wire = this.encode(m, signer);
    return 'answered';
  }

  private notify(ctx: RequestContext, q: Message, signer: TsigSigner | undefined): StageResult {
    const question = q.questions[0]!;
    // RFC 1996 3.7: a NOTIFY names the zone with QTYPE SOA; nothing else is defined.
    if (question.type !== Type.SOA) return this.fail(ctx, q, Rcode.NOTIMP, signer, 'NOTIFY for a type other than SOA');
    const soa = q.answers.find((rr) => rr.type === Type.SOA && rr.rdata.length >= 22);
    const accepted = this.opts.onNotify?.(question.name, ctx.client.address, soa ? soaSerial(soa.rdata) : undefined) ?? false;
    ctx.notes.notify = accepted ? 'accepted' : 'refused';
    if (!accepted) return this.fail(ctx, q, Rcode.REFUSED, signer, `NOTIFY for ${nameToText(question.name)} refused`);
    // RFC 1996 4.7: the reply echoes the question, with AA, and no data.
    ctx.wire = this.encode(this.reply(q, Rcode.NOERROR), signer);
    return 'answered';
  }

  private soa(ctx: RequestContext, q: Message, signer: TsigSigner | undefined): StageResult {
    const zone = this.opts.publisher.get(q.questions[0]!.name)!;
    const m = this.reply(q, Rcode.NOERROR);
    m.answers.push(zone.records[0]!);
    ctx.wire = this.encode(m, signer);
    return 'answered';
  }

  private transfer(ctx: RequestContext, q: Message, signer: TsigSigner | undefined): StageResult {
    const r = this.serve(ctx, q, signer);
    const question = q.questions[0]!;
    const kind = ctx.notes.transferKind as string | undefined;
    const result = kind ?? (ctx.transport === 'udp' && question.type === Type.IXFR && !ctx.notes.error ? 'ixfr-udp' : ctx.wire ? rcodeResult(ctx.wire) : 'dropped');
    this.opts.onTransfer?.(question.name, question.type === Type.AXFR ? 'axfr' : 'ixfr', result);
    return r;
  }

  private serve(ctx: RequestContext, q: Message, signer: TsigSigner | undefined): StageResult {
    const question = q.questions[0]!;
    const isAxfr = question.type === Type.AXFR;
    if (!this.opts.allow.allows(ctx.client.address)) {
      return this.fail(ctx, q, Rcode.REFUSED, signer, `zone transfer not allowed from ${ctx.client.address}`, Ede.PROHIBITED);
    }
    const zone = question.class === Class.IN ? this.opts.publisher.get(question.name) : undefined;
    // RFC 5936 2.2.1 (and BIND, Knot): not our zone -> NOTAUTH.
    if (!zone) return this.fail(ctx, q, RCODE_NOTAUTH, signer, `not a zone served here: ${nameToText(question.name)}`);
    const required = zone.tsig ?? this.opts.requireTsig;
    if (required && (!signer || nameKey(signer.key.name) !== nameKey(required))) {
      return this.fail(ctx, q, Rcode.REFUSED, signer, `transfers of ${nameToText(zone.name)} need TSIG key ${nameToText(required)}`, Ede.PROHIBITED);
    }
    const soa = zone.records[0]!;
    let clientSerial: number | undefined;
    if (!isAxfr) {
      // RFC 1995 3: the IXFR query carries the client's SOA in its authority section.
      const theirs = q.authorities.find((rr) => rr.type === Type.SOA && nameKey(rr.name) === nameKey(zone.name) && rr.rdata.length >= 22);
      if (!theirs) return this.fail(ctx, q, Rcode.FORMERR, signer, 'IXFR without the client SOA in the authority section');
      clientSerial = soaSerial(theirs.rdata);
    }
    if (ctx.transport === 'udp') {
      // RFC 5936 4.2: AXFR is TCP only. RFC 1995 2: an IXFR over UDP that does not fit gets the SOA alone, "ask again over TCP".
      if (isAxfr) return this.fail(ctx, q, Rcode.FORMERR, signer, 'AXFR over UDP');
      const m = this.reply(q, Rcode.NOERROR);
      m.answers.push(soa);
      ctx.wire = this.encode(m, signer);
      return 'answered';
    }
    let records: Record[];
    if (isAxfr) {
      records = [...zone.records, soa];
      ctx.notes.transferKind = 'axfr';
    } else if (!serialGt(zone.serial, clientSerial!)) {
      // RFC 1995 4: up to date (or newer than us): the SOA alone.
      records = [soa];
      ctx.notes.transferKind = 'ixfr-uptodate';
    } else {
      const chain = this.chainFrom(zone, clientSerial!);
      if (chain) {
        records = [soa];
        for (const d of chain) records.push(...d.deleted, ...d.added);
        records.push(soa);
        ctx.notes.transferKind = 'ixfr';
      } else {
        // No history for that serial: the whole zone, AXFR-style (RFC 1995 4).
        records = [...zone.records, soa];
        ctx.notes.transferKind = 'ixfr-axfr';
      }
    }
    const wires = this.stream(q, records, signer);
    ctx.wire = wires[0];
    if (wires.length > 1) ctx.moreWires = wires.slice(1);
    return 'answered';
  }

  /** The differences from `serial` to the current version, when the history reaches back that far and is smaller than the zone. */
  private chainFrom(zone: PublishedZone, serial: number): ZoneDiff[] | undefined {
    const i = zone.history.findIndex((d) => d.from === serial);
    if (i < 0) return undefined;
    const chain = zone.history.slice(i);
    const size = chain.reduce((n, d) => n + d.deleted.length + d.added.length, 0);
    return size < zone.records.length ? chain : undefined;
  }

  /**
   * Split a transfer into messages of at most `maxMessageSize` (RFC 5936
   * 2.2: as many records per message as fit). Sizes are counted
   * uncompressed, an upper bound of what compression gives; the question
   * rides in the first message only; each message is signed in turn when the
   * request was (RFC 8945 5.3.1).
   */
  private stream(q: Message, records: Record[], signer: TsigSigner | undefined): Buffer[] {
    const fixed = 12 + (q.edns ? 11 : 0) + (signer ? tsigSize(signer.key) : 0);
    const questionSize = q.questions[0]!.name.length + 4;
    const out: Buffer[] = [];
    let batch: Record[] = [];
    let size = fixed + questionSize;
    const flush = () => {
      const m = this.reply(q, Rcode.NOERROR);
      if (out.length > 0) m.questions = [];
      m.answers = batch;
      out.push(this.encode(m, signer));
      batch = [];
      size = fixed;
    };
    for (const rr of records) {
      const n = rr.name.length + 10 + rr.rdata.length;
      if (batch.length > 0 && size + n > this.maxMessage) flush();
      batch.push(rr);
      size += n;
    }
    if (batch.length > 0) flush();
    return out;
  }
}

// ---------------------------------------------------------------- NOTIFY out

export interface NotifyOptions {
  tsig?: TsigKey;
  /** Retransmissions after the first send (default 5, RFC 1996 3.6). */
  retries?: number;
  /** Wait for the first reply (default 1 s), doubled at each retransmission. */
  timeoutMs?: number;
  /** The zone's SOA, sent in the answer section with the new serial (RFC 1996 3.7). */
  soa?: Record;
  /** Local address to send from (what the secondary lists as its primary). */
  source?: string;
  now?: () => number;
}

export interface NotifyOutcome {
  target: NotifyTarget;
  ok: boolean;
  rcode?: number;
  attempts: number;
  error?: string;
}

function notifyMessage(zone: Name, serial: number, soa: Record | undefined): Message {
  return emptyMessage({
    id: randomInt(0, 0x10000), opcode: Opcode.NOTIFY, aa: true,
    questions: [{ name: zone, type: Type.SOA, class: Class.IN }],
    answers: soa ? [{ ...soa, rdata: withSerial(soa.rdata, serial) }] : [],
  });
}

function notifyOne(target: NotifyTarget, zone: Name, serial: number, opts: NotifyOptions): Promise<NotifyOutcome> {
  const now = opts.now ?? Date.now;
  const m = notifyMessage(zone, serial, opts.soa);
  let wire = encodeMessage(m);
  let verifier: TsigVerifier | undefined;
  if (opts.tsig) {
    const s = signRequest(wire, opts.tsig, now);
    wire = s.wire;
    verifier = new TsigVerifier(opts.tsig, s.mac, now);
  }
  const retries = opts.retries ?? 5;
  return new Promise((resolve) => {
    const sock = createSocket(target.address.includes(':') ? 'udp6' : 'udp4');
    let attempts = 0;
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const done = (o: Omit<NotifyOutcome, 'target' | 'attempts'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.close();
      resolve({ target, attempts, ...o });
    };
    const send = () => {
      if (attempts > retries) {
        done({ ok: false, error: `no reply after ${attempts} attempts` });
        return;
      }
      // RFC 1996 3.6: retransmit the same message (same ID) until answered, with a growing interval.
      const wait = (opts.timeoutMs ?? 1000) * 2 ** attempts;
      attempts++;
      sock.send(wire, target.port, target.address, (err) => { if (err) done({ ok: false, error: err.message }); });
      timer = setTimeout(send, wait);
    };
    sock.on('error', (e) => done({ ok: false, error: e.message }));
    sock.on('message', (raw, rinfo) => {
      if (rinfo.port !== target.port || raw.length < 12 || raw.readUInt16BE(0) !== m.id) return;
      try {
        let body: Buffer = raw;
        if (verifier && (raw[3]! & 0xf) === 0) body = verifier.verify(raw);
        else if (verifier && findTsig(raw)) body = verifier.verify(raw);
        const r = decodeMessage(body);
        if (!r.qr || r.opcode !== Opcode.NOTIFY) return;
        done({ ok: r.rcode === Rcode.NOERROR, rcode: r.rcode, ...(r.rcode === Rcode.NOERROR ? {} : { error: `answered rcode ${r.rcode}` }) });
      } catch (e) {
        done({ ok: false, error: e instanceof TsigError ? `TSIG: ${e.message}` : (e as Error).message });
      }
    });
    sock.bind({ port: 0, exclusive: true, ...(opts.source ? { address: opts.source } : {}) }, send);
  });
}

/** Tell secondaries that `zone` is now at `serial` (RFC 1996), all targets at once; resolves with each outcome. */
export function sendNotify(targets: readonly NotifyTarget[], zone: Name, serial: number, opts: NotifyOptions = {}): Promise<NotifyOutcome[]> {
  return Promise.all(targets.map((t) => notifyOne(t, zone, serial, opts)));
}
