/**
 * A peer resolver of the end-to-end benchmarks: how to tell whether it can
 * run here, and how to write its configuration and spawn it. One file per
 * resolver beside this one; bench/peers/index.ts lists them in run order.
 *
 * Every peer is configured alike: one worker thread, QNAME minimisation off
 * (one upstream query per cache miss), minimal responses, caches far larger
 * than the working set, root hints = the bench's NSD lab, listening on
 * 127.0.0.1 with a port of its own. Two things vary with the run:
 *   - `rpz`: an RPZ zone of QNAME triggers applied before recursion (bench:e2e);
 *   - `anchor`: validate DNSSEC from that trust anchor (bench:dnssec);
 *     absent, validation is off.
 */
import { spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The checkout (from dist/bench/peers/, three levels up). */
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

/** The root's DS, as every peer wants it (lab/keys/root.ds). */
export interface TrustAnchor {
  /** A master file holding the DS (Unbound's trust-anchor-file; Verdict's dnssec.trust_anchor_file). */
  file: string;
  keyTag: number;
  algorithm: number;
  digestType: number;
  /** Hex, upper case. */
  digest: string;
}

/** The root DS of a master file's text ("; comment" lines allowed); `file` is where the peers read it. */
export function parseTrustAnchor(text: string, file: string): TrustAnchor {
  const line = text.split('\n').map((l) => l.replace(/;.*/, '').trim()).find((l) => /\sDS\s/i.test(` ${l} `));
  const m = line ? /^\.\s+(?:[0-9]+\s+)?(?:IN\s+)?DS\s+([0-9]+)\s+([0-9]+)\s+([0-9]+)\s+([0-9A-Fa-f\s]+)$/i.exec(line) : null;
  if (!m) throw new Error(`${file}: no root DS record`);
  return { file, keyTag: Number(m[1]), algorithm: Number(m[2]), digestType: Number(m[3]), digest: m[4]!.replace(/\s+/g, '').toUpperCase() };
}

export function readTrustAnchor(file: string): TrustAnchor {
  return parseTrustAnchor(readFileSync(file, 'utf8'), file);
}

/** "30464 8 2 D38F…": the DS rdata in presentation form. */
export function dsRdata(a: TrustAnchor): string {
  return `${a.keyTag} ${a.algorithm} ${a.digestType} ${a.digest}`;
}

export interface PeerCtx {
  /** Where its configuration, state and cache go (created by the caller). */
  dir: string;
  port: number;
  /** Root hints (the NSD lab's root servers). */
  hints: { name: string; address: string }[];
  /** An RPZ zone file applied before recursion; absent: no policy. */
  rpz?: string;
  /** Validate DNSSEC from this anchor; absent: validation off. */
  anchor?: TrustAnchor;
  /** Extra arguments for Verdict's node (e.g. --cpu-prof); ignored by the other peers. */
  nodeArgs?: string[];
  /** Also serve DNS over TLS and over HTTPS (bench:encrypted); only Verdict, Unbound and BIND do. */
  encrypted?: EncryptedCtx;
}

/**
 * DoT on 127.0.0.1:dotPort, DoH (HTTP/2, path /dns-query) on 127.0.0.1:dohPort, with one PEM pair;
 * at least `connections` TCP clients at once, idle ones kept `idleS` seconds.
 */
export interface EncryptedCtx {
  dotPort: number;
  dohPort: number;
  cert: string;
  key: string;
  connections: number;
  idleS: number;
}

export interface Peer {
  id: string;
  label: string;
  /** Why it cannot run here, or undefined. */
  missing(): string | undefined;
  /** Write its configuration into ctx.dir and spawn it (the caller tracks the process). */
  spawn(ctx: PeerCtx): ChildProcess;
}

/** undefined when `bin args` runs, else why not. */
export function which(bin: string, args: string[]): string | undefined {
  return spawnSync(bin, args, { encoding: 'utf8', timeout: 10_000 }).error ? `${bin} not found` : undefined;
}
