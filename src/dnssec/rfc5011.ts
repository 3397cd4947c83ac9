/**
 * Automated updates of DNSSEC trust anchors (RFC 5011) for one zone (the
 * root), as Unbound's auto-trust-anchor-file: the validator hands each DNSKEY
 * RRset of the zone that validated against the current anchor; a new
 * secure-entry key becomes trusted after the 30-day add hold-down (RFC 5011
 * 2.4.1), a key published with the REVOKE bit stops being trusted at once
 * (2.1), a trusted key that disappears stays trusted as Missing (4). The state
 * survives restarts in a JSON file written atomically; when present it takes
 * precedence over the built-in anchors, which is the point of tracking.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { Class, Type } from '../dns/constants.js';
import type { Record } from '../dns/message.js';
import type { Name } from '../dns/name.js';
import { nameToText } from '../dns/name.js';
import type { TrustAnchor } from './anchors.js';
import { dsMatchesKey } from './crypto.js';
import { DnskeyFlag, parseDnskey, parseDs } from './records.js';

/** RFC 5011 2.4.1: add hold-down time. */
export const ADD_HOLD_DOWN_MS = 30 * 86_400_000;

export type KeyState = 'AddPend' | 'Valid' | 'Missing' | 'Revoked';

interface TrackedKey {
  /** DNSKEY RDATA without the REVOKE bit, base64: the key's identity across revocation. */
  id: string;
  rdata: Buffer;
  state: KeyState;
  firstSeen: number;
  lastSeen: number;
}

export interface KeyTrackerOptions {
  zone: Name;
  initial: TrustAnchor;
  stateFile?: string;
  now?: () => number;
  log?: (msg: string, data?: object) => void;
}

function identity(rdata: Buffer): string {
  const copy = Buffer.from(rdata);
  copy.writeUInt16BE(copy.readUInt16BE(0) & ~DnskeyFlag.REVOKE, 0);
  return copy.toString('base64');
}

export class KeyTracker {
  private keys = new Map<string, TrackedKey>();
  private readonly now: () => number;

  constructor(private readonly opts: KeyTrackerOptions) {
    this.now = opts.now ?? Date.now;
    if (opts.stateFile) this.load(opts.stateFile);
  }

  /** What the validator trusts now: the initial anchor until a DNSKEY set was seen, then the Valid and Missing keys. */
  anchor(): TrustAnchor {
    const trusted = [...this.keys.values()].filter((k) => k.state === 'Valid' || k.state === 'Missing');
    if (trusted.length === 0) return this.opts.initial;
    return {
      zone: this.opts.zone,
      ds: [],
      dnskey: trusted.map((k) => ({ name: this.opts.zone, type: Type.DNSKEY, class: Class.IN, ttl: 172800, rdata: k.rdata })),
    };
  }

  states(): { keyTag: number; state: KeyState }[] {
    return [...this.keys.values()].map((k) => ({ keyTag: parseDnskey(k.rdata).keyTag, state: k.state }));
  }

  /** A DNSKEY RRset of the zone that validated against the current anchor. */
  observe(dnskeys: readonly Record[], now = this.now()): void {
    const seen = new Set<string>();
    let changed = false;
    const set = (k: TrackedKey, state: KeyState) => {
      if (k.state === state) return;
      this.opts.log?.(`RFC 5011: key ${parseDnskey(k.rdata).keyTag} of ${nameToText(this.opts.zone)} ${k.state} -> ${state}`, { zone: nameToText(this.opts.zone) });
      k.state = state;
      changed = true;
    };
    const firstTime = this.keys.size === 0;
    for (const r of dnskeys) {
      if (r.type !== Type.DNSKEY) continue;
      let key;
      try {
        key = parseDnskey(r.rdata);
      } catch {
        continue;
      }
      if ((key.flags & DnskeyFlag.ZONE) === 0 || (key.flags & DnskeyFlag.SEP) === 0) continue;
      const id = identity(r.rdata);
      seen.add(id);
      let k = this.keys.get(id);
      const revoked = (key.flags & DnskeyFlag.REVOKE) !== 0;
      if (!k) {
        // At the first observation, keys named by the configured anchor are trusted at once.
        const anchored = firstTime && !revoked && (
          this.opts.initial.ds.some((d) => dsMatchesKey(this.opts.zone, parseDs(d.rdata), key)) ||
          this.opts.initial.dnskey.some((d) => d.rdata.equals(r.rdata)));
        k = { id, rdata: Buffer.from(r.rdata), state: anchored ? 'Valid' : 'AddPend', firstSeen: now, lastSeen: now };
        this.keys.set(id, k);
        changed = true;
        if (revoked) set(k, 'Revoked');
        continue;
      }
      k.lastSeen = now;
      if (revoked) set(k, 'Revoked');
      else if (k.state === 'AddPend' && now - k.firstSeen >= ADD_HOLD_DOWN_MS) set(k, 'Valid');
      else if (k.state === 'Missing') set(k, 'Valid');
    }
    for (const k of this.keys.values()) {
      if (seen.has(k.id)) continue;
      if (k.state === 'Valid') set(k, 'Missing');
      else if (k.state === 'AddPend') {
        // RFC 5011 4: a pending key that goes away starts over.
        this.keys.delete(k.id);
        changed = true;
      }
    }
    if (changed && this.opts.stateFile) this.save(this.opts.stateFile);
  }

  /** RFC 5011 2.3 active refresh: max(1 hour, min(15 days, TTL/2, time to signature expiration/2)). */
  nextProbe(ttl: number, sigExpiration: number, now = this.now()): number {
    const toExpiry = Math.max(0, sigExpiration * 1000 - now);
    return now + Math.max(3_600_000, Math.min(15 * 86_400_000, (ttl * 1000) / 2, toExpiry / 2));
  }

  private load(file: string): void {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return; // no state yet: start from the configured anchor
    }
    const data = JSON.parse(text) as { keys: { rdata: string; state: KeyState; firstSeen: number; lastSeen: number }[] };
    for (const k of data.keys) {
      const rdata = Buffer.from(k.rdata, 'base64');
      this.keys.set(identity(rdata), { id: identity(rdata), rdata, state: k.state, firstSeen: k.firstSeen, lastSeen: k.lastSeen });
    }
  }

  private save(file: string): void {
    const data = {
      zone: nameToText(this.opts.zone),
      keys: [...this.keys.values()].map((k) => ({ keyTag: parseDnskey(k.rdata).keyTag, rdata: k.rdata.toString('base64'), state: k.state, firstSeen: k.firstSeen, lastSeen: k.lastSeen })),
    };
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(data, null, 2) + '\n');
    renameSync(tmp, file);
  }
}
