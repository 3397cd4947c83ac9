/**
 * Automated updates of DNSSEC trust anchors (RFC 5011) for one zone (the
 * root), as Unbound's auto-trust-anchor-file. The caller drives it: it hands
 * each DNSKEY RRset of the zone that validated against the current anchor,
 * with the key tags of the revoked keys that signed that set themselves
 * (`revokedSelfSigners` finds them), and re-fetches the set when `nextProbe`
 * says (RFC 5011 2.3).
 *
 * Key states and events follow RFC 5011 4:
 *   Start   --NewKey-->  AddPend  --AddTime (30 days, 2.4.1)--> Valid
 *   AddPend --KeyRem-->  Start    (a pending key that goes away starts over)
 *   Valid   --KeyRem-->  Missing  --KeyPres--> Valid  (Missing is still trusted)
 *   Valid | Missing --RevBit--> Revoked --RemTime (30 days unseen, 2.4.2)--> Removed
 * Start is "not in the table". Valid and Missing keys are the anchor.
 *
 * The state survives restarts in a JSON file written atomically (temp file,
 * fsync, rename); when present it takes precedence over the configured anchor,
 * which is the point of tracking: after a rollover the built-in anchor is stale.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { Class, Type } from '../dns/constants.js';
import type { Record } from '../dns/message.js';
import type { Name } from '../dns/name.js';
import { nameFromText, namesEqual, nameToText } from '../dns/name.js';
import type { TrustAnchor } from './anchors.js';
import { checkRrsig, dsMatchesKey } from './crypto.js';
import { DnskeyFlag, keyTagOf, parseDnskey, parseDs, parseRrsig } from './records.js';
import type { Dnskey } from './records.js';

const DAY_MS = 86_400_000;
/** RFC 5011 2.4.1: add hold-down time (at least; the original TTL of the first set holding the key if longer). */
export const ADD_HOLD_DOWN_MS = 30 * DAY_MS;
/** RFC 5011 2.4.2: remove hold-down time, after which a revoked key no longer published is Removed. */
export const REMOVE_HOLD_DOWN_MS = 30 * DAY_MS;
/** Keys tracked at most; a root DNSKEY set holds a handful. Past it, new keys are ignored (and logged). */
const MAX_TRACKED_KEYS = 32;
/** Removed keys remembered (so a revoked key is never taken back); the oldest are forgotten beyond it. */
const MAX_REMOVED_KEYS = 8;
/** Signature checks `revokedSelfSigners` does at most for one set (KeyTrap: bounded work per input). */
const MAX_REVOKE_CHECKS = 8;
const STATE_VERSION = 1;

export type KeyState = 'Start' | 'AddPend' | 'Valid' | 'Missing' | 'Revoked' | 'Removed';
type StoredState = Exclude<KeyState, 'Start'>;
const STORED_STATES: ReadonlySet<string> = new Set<StoredState>(['AddPend', 'Valid', 'Missing', 'Revoked', 'Removed']);

interface TrackedKey {
  /** DNSKEY RDATA without the REVOKE bit, base64: the key's identity across revocation. */
  id: string;
  /** RDATA without the REVOKE bit (what a trusted key looks like in the set). */
  rdata: Buffer;
  state: StoredState;
  /** ms since the epoch: first seen in a validated set (start of the add hold-down). */
  firstSeen: number;
  /** ms since the epoch: last seen in a validated set (start of the remove hold-down when Revoked). */
  lastSeen: number;
  /** ms this key must stay AddPend before it becomes Valid (RFC 5011 2.4.1). */
  holdDown: number;
}

export interface KeyTrackerOptions {
  zone: Name;
  /** The configured anchor (the built-in IANA root anchors): trusted until the state file says otherwise. */
  initial: TrustAnchor;
  /** JSON state (Unbound's auto-trust-anchor-file); absent: tracking in memory only. */
  stateFile?: string;
  now?: () => number;
  /** The trusted keys changed (a key became Valid, or was revoked). */
  onChange?: (trusted: Record[]) => void;
  log?: (msg: string, data?: object) => void;
}

function identity(rdata: Buffer): { id: string; rdata: Buffer } {
  const plain = Buffer.from(rdata);
  plain.writeUInt16BE(plain.readUInt16BE(0) & ~DnskeyFlag.REVOKE, 0);
  return { id: plain.toString('base64'), rdata: plain };
}

/** RFC 5011 2.1: the trust point's keys are secure entry points of the zone (Zone and SEP flags, protocol 3). */
function parseSepKey(rdata: Buffer): Dnskey | undefined {
  let key: Dnskey;
  try {
    key = parseDnskey(rdata);
  } catch {
    return undefined;
  }
  const sep = DnskeyFlag.ZONE | DnskeyFlag.SEP;
  return (key.flags & sep) === sep && key.protocol === 3 ? key : undefined;
}

/**
 * RFC 5011 2.1 and 4 (RevBit): the key tags of the DNSKEYs of `dnskeys` that
 * carry the REVOKE bit and whose own RRSIG over the set verifies. Only such a
 * revocation counts: the holder of the private key revoked it, not whoever
 * holds another key of the set. `nowSeconds` is the RRSIG clock (seconds).
 */
export function revokedSelfSigners(zone: Name, dnskeys: readonly Record[], sigs: readonly Record[], nowSeconds: number): number[] {
  const set = dnskeys.filter((r) => r.type === Type.DNSKEY && namesEqual(r.name, zone));
  const out: number[] = [];
  let checks = 0;
  for (const r of set) {
    const key = parseSepKey(r.rdata);
    if (!key || (key.flags & DnskeyFlag.REVOKE) === 0 || out.includes(key.keyTag)) continue;
    for (const s of sigs) {
      if (s.type !== Type.RRSIG || !namesEqual(s.name, zone)) continue;
      let sig;
      try {
        sig = parseRrsig(s.rdata);
      } catch {
        continue;
      }
      if (sig.typeCovered !== Type.DNSKEY || sig.keyTag !== key.keyTag || !namesEqual(sig.signerName, zone)) continue;
      if (++checks > MAX_REVOKE_CHECKS) return out;
      if (checkRrsig(set, sig, key, nowSeconds) === 'valid') {
        out.push(key.keyTag);
        break;
      }
    }
  }
  return out;
}

export class KeyTracker {
  private readonly keys = new Map<string, TrackedKey>();
  private readonly now: () => number;
  private current: TrustAnchor;

  constructor(private readonly opts: KeyTrackerOptions) {
    this.now = opts.now ?? Date.now;
    if (opts.stateFile) this.load(opts.stateFile);
    this.current = this.computeAnchor();
  }

  /**
   * What the validator trusts now: the configured anchor until a DNSKEY set
   * was tracked; then the Valid and Missing keys. With every key revoked the
   * anchor holds no key: RFC 5011 5 treats such a trust point as deleted.
   */
  anchor(): TrustAnchor {
    return this.current;
  }

  /** The tracked keys (Start keys are not tracked), for `verdict ctl` and logs. */
  states(): { keyTag: number; state: KeyState; firstSeen: number; lastSeen: number }[] {
    return [...this.keys.values()].map((k) => ({ keyTag: keyTagOf(k.rdata), state: k.state, firstSeen: k.firstSeen, lastSeen: k.lastSeen }));
  }

  /**
   * A DNSKEY RRset of the zone that validated (with its RRSIGs already checked
   * by the caller against a trusted key). `revokedSigners` lists the key tags
   * (of the revoked form) of keys whose revoked form signed the set
   * (`revokedSelfSigners`); a key with the REVOKE bit not listed there is
   * neither trusted nor taken as a revocation (RFC 5011 2.1).
   */
  observe(dnskeys: readonly Record[], now = this.now(), revokedSigners: readonly number[] = []): void {
    const present = new Map<string, Buffer>();
    const revoked = new Set<string>();
    let ttl = Infinity;
    for (const r of dnskeys) {
      if (r.type !== Type.DNSKEY || !namesEqual(r.name, this.opts.zone)) continue;
      const key = parseSepKey(r.rdata);
      if (!key) continue;
      ttl = Math.min(ttl, r.ttl);
      const { id, rdata } = identity(r.rdata);
      if ((key.flags & DnskeyFlag.REVOKE) === 0) present.set(id, rdata);
      else if (revokedSigners.includes(key.keyTag)) revoked.add(id);
    }
    let changed = false;
    const move = (k: TrackedKey, to: KeyState) => {
      this.opts.log?.(`RFC 5011: key ${keyTagOf(k.rdata)} of ${nameToText(this.opts.zone)} ${k.state} -> ${to}`, { zone: nameToText(this.opts.zone), keyTag: keyTagOf(k.rdata), from: k.state, to });
      if (to === 'Start') this.keys.delete(k.id);
      else k.state = to;
      changed = true;
    };

    if (!this.bootstrapped()) {
      // No tracked trust yet: the keys the configured anchor names are Valid at once
      // (they are what the set was just validated with); the others wait out the hold-down.
      const initial = this.opts.initial;
      const trusted = [...present].filter(([, rdata]) => {
        const key = parseDnskey(rdata);
        return initial.ds.some((d) => dsMatchesKey(this.opts.zone, parseDs(d.rdata), key)) || initial.dnskey.some((d) => d.rdata.equals(rdata));
      });
      if (trusted.length === 0) {
        this.opts.log?.(`RFC 5011: no key of the DNSKEY set of ${nameToText(this.opts.zone)} matches the configured anchor; not tracked`, { zone: nameToText(this.opts.zone) });
        return;
      }
      for (const [id, rdata] of trusted) {
        this.keys.set(id, { id, rdata, state: 'Valid', firstSeen: now, lastSeen: now, holdDown: ADD_HOLD_DOWN_MS });
      }
      changed = true;
    }

    // RevBit (RFC 5011 4): a self-signed revocation ends trust in the key for good.
    for (const id of revoked) {
      let k = this.keys.get(id);
      if (!k) {
        if (this.keys.size >= MAX_TRACKED_KEYS) continue;
        k = { id, rdata: Buffer.from(id, 'base64'), state: 'Revoked', firstSeen: now, lastSeen: now, holdDown: ADD_HOLD_DOWN_MS };
        this.keys.set(id, k);
        changed = true;
      }
      if (k.state !== 'Revoked' && k.state !== 'Removed') move(k, 'Revoked');
      if (k.state === 'Revoked' && k.lastSeen !== now) {
        k.lastSeen = now;
        changed = true;
      }
    }

    for (const [id, rdata] of present) {
      if (revoked.has(id)) continue;
      const k = this.keys.get(id);
      if (!k) {
        // NewKey: RFC 5011 2.4.1, the hold-down is 30 days or the set's original TTL, whichever is longer.
        if (this.keys.size >= MAX_TRACKED_KEYS) {
          this.opts.log?.(`RFC 5011: ${MAX_TRACKED_KEYS} keys tracked for ${nameToText(this.opts.zone)}; key ${keyTagOf(rdata)} ignored`);
          continue;
        }
        const added: TrackedKey = { id, rdata, state: 'AddPend', firstSeen: now, lastSeen: now, holdDown: Math.max(ADD_HOLD_DOWN_MS, ttl * 1000) };
        this.keys.set(id, added);
        this.opts.log?.(`RFC 5011: key ${keyTagOf(rdata)} of ${nameToText(this.opts.zone)} Start -> AddPend`, { zone: nameToText(this.opts.zone), keyTag: keyTagOf(rdata), from: 'Start', to: 'AddPend' });
        changed = true;
        continue;
      }
      if (k.lastSeen !== now) {
        k.lastSeen = now;
        changed = true;
      }
      if (k.state === 'AddPend' && now - k.firstSeen >= k.holdDown) move(k, 'Valid'); // AddTime
      else if (k.state === 'Missing') move(k, 'Valid'); // KeyPres
      // Revoked and Removed keys stay so: a revoked key is never trusted again (RFC 5011 2.1).
    }

    for (const k of [...this.keys.values()]) {
      if (present.has(k.id) || revoked.has(k.id)) continue;
      if (k.state === 'AddPend') move(k, 'Start'); // KeyRem: the acceptance timer starts over
      else if (k.state === 'Valid') move(k, 'Missing'); // KeyRem: still trusted
      else if (k.state === 'Revoked' && now - k.lastSeen >= REMOVE_HOLD_DOWN_MS) move(k, 'Removed'); // RemTime
    }
    changed = this.forgetOldRemoved() || changed;

    if (!changed) return;
    const before = this.current;
    this.current = this.computeAnchor();
    if (this.opts.stateFile) this.save(this.opts.stateFile);
    if (!sameKeys(before.dnskey, this.current.dnskey) || before.ds.length !== this.current.ds.length) {
      if (this.current.dnskey.length === 0) {
        this.opts.log?.(`RFC 5011: every trusted key of ${nameToText(this.opts.zone)} is revoked; the trust point is deleted (RFC 5011 5)`, { zone: nameToText(this.opts.zone) });
      }
      this.opts.onChange?.(this.current.dnskey);
    }
  }

  /**
   * When the zone's DNSKEY RRset should next be fetched, ms since the epoch
   * (RFC 5011 2.3 active refresh): max(1 hour, min(15 days, TTL/2, time left
   * until the RRSIG expires / 2)). `ttl` is the set's original TTL in seconds,
   * `sigExpiration` the RRSIG's expiration in seconds since the epoch.
   */
  nextProbe(ttl: number, sigExpiration: number, now = this.now()): number {
    const toExpiry = Math.max(0, sigExpiration * 1000 - now);
    return now + Math.max(3_600_000, Math.min(15 * DAY_MS, (ttl * 1000) / 2, toExpiry / 2));
  }

  /** Trust was ever tracked: some key is (or was) trusted. AddPend keys alone do not count. */
  private bootstrapped(): boolean {
    for (const k of this.keys.values()) if (k.state !== 'AddPend') return true;
    return false;
  }

  private computeAnchor(): TrustAnchor {
    if (!this.bootstrapped()) return this.opts.initial;
    const trusted = [...this.keys.values()].filter((k) => k.state === 'Valid' || k.state === 'Missing');
    return {
      zone: this.opts.zone,
      ds: [],
      dnskey: trusted.map((k) => ({ name: this.opts.zone, type: Type.DNSKEY, class: Class.IN, ttl: 172_800, rdata: k.rdata })),
    };
  }

  private forgetOldRemoved(): boolean {
    const removed = [...this.keys.values()].filter((k) => k.state === 'Removed').sort((a, b) => a.lastSeen - b.lastSeen);
    const drop = removed.slice(0, Math.max(0, removed.length - MAX_REMOVED_KEYS));
    for (const k of drop) this.keys.delete(k.id);
    return drop.length > 0;
  }

  /** Read the state file; absent is a fresh start, anything else unreadable is an error (silently falling back to a stale anchor would defeat tracking). */
  private load(file: string): void {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new Error(`${file}: cannot read the RFC 5011 state: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const fail = (reason: string): never => { throw new Error(`${file}: RFC 5011 state: ${reason}`); };
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (e) {
      fail(`not JSON (${(e as Error).message})`);
    }
    const d = data as { zone?: unknown; keys?: unknown };
    if (typeof d !== 'object' || d === null || !Array.isArray(d.keys)) fail('expected {"zone": ..., "keys": [...]}');
    const keys = d.keys as unknown[];
    if (typeof d.zone === 'string') {
      let zone: Name | undefined;
      try {
        zone = nameFromText(d.zone);
      } catch {
        fail(`bad zone ${JSON.stringify(d.zone)}`);
      }
      if (!namesEqual(zone!, this.opts.zone)) fail(`the file tracks ${d.zone}, not ${nameToText(this.opts.zone)}`);
    }
    if (keys.length > MAX_TRACKED_KEYS) fail(`${keys.length} keys, more than ${MAX_TRACKED_KEYS}`);
    keys.forEach((raw, i) => {
      const k = raw as { rdata?: unknown; state?: unknown; firstSeen?: unknown; lastSeen?: unknown; holdDown?: unknown };
      const where = `keys[${i}]`;
      if (typeof k !== 'object' || k === null) fail(`${where}: not an object`);
      if (typeof k.rdata !== 'string' || !parseSepKey(Buffer.from(k.rdata, 'base64'))) fail(`${where}: rdata is not a base64 DNSKEY with the Zone and SEP flags`);
      if (typeof k.state !== 'string' || !STORED_STATES.has(k.state)) fail(`${where}: state ${JSON.stringify(k.state)} is not one of ${[...STORED_STATES].join(', ')}`);
      if (!Number.isFinite(k.firstSeen) || !Number.isFinite(k.lastSeen)) fail(`${where}: firstSeen and lastSeen must be ms since the epoch`);
      const { id, rdata } = identity(Buffer.from(k.rdata as string, 'base64'));
      const holdDown = Number.isFinite(k.holdDown) ? Math.max(ADD_HOLD_DOWN_MS, k.holdDown as number) : ADD_HOLD_DOWN_MS;
      this.keys.set(id, { id, rdata, state: k.state as StoredState, firstSeen: k.firstSeen as number, lastSeen: k.lastSeen as number, holdDown });
    });
  }

  /** Temp file, fsync, rename: a crash leaves the old state or the new one, never half. A failure is logged, not thrown (this runs on the resolution path). */
  private save(file: string): void {
    const data = {
      version: STATE_VERSION,
      zone: nameToText(this.opts.zone),
      keys: [...this.keys.values()].map((k) => ({
        keyTag: keyTagOf(k.rdata), state: k.state, rdata: k.rdata.toString('base64'),
        firstSeen: k.firstSeen, lastSeen: k.lastSeen, holdDown: k.holdDown,
        // for the operator reading the file; ignored on load
        firstSeenAt: new Date(k.firstSeen).toISOString(), lastSeenAt: new Date(k.lastSeen).toISOString(),
      })),
    };
    const tmp = `${file}.tmp-${process.pid}`;
    let fd: number | undefined;
    try {
      fd = openSync(tmp, 'w', 0o644);
      writeSync(fd, JSON.stringify(data, null, 2) + '\n');
      fsyncSync(fd);
      closeSync(fd);
      fd = undefined;
      renameSync(tmp, file);
    } catch (e) {
      if (fd !== undefined) closeSync(fd);
      try {
        unlinkSync(tmp);
      } catch {
        // nothing to clean up
      }
      this.opts.log?.(`RFC 5011: cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; the state is kept in memory`, { file });
    }
  }
}

function sameKeys(a: readonly Record[], b: readonly Record[]): boolean {
  return a.length === b.length && a.every((r) => b.some((x) => x.rdata.equals(r.rdata)));
}
