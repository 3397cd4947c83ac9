/** The peers of the end-to-end benchmarks, in run order (Unbound is the reference of every ratio). */
import { bind } from './bind.js';
import { knot } from './knot.js';
import { pdns } from './pdns.js';
import type { Peer } from './peer.js';
import { unbound } from './unbound.js';
import { verdict, verdictDgram, verdictNode24 } from './verdict.js';

export const PEERS: readonly Peer[] = [verdict, verdictDgram, unbound, bind, pdns, knot];
/** Run only when named in --only. */
const EXTRA: readonly Peer[] = [verdictNode24];

/** Parse `--only a,b` against the peer ids; throws on an unknown id. */
export function selectPeers(only: string | undefined): Peer[] {
  const ids = only ? only.split(',').map((s) => s.trim()).filter(Boolean) : PEERS.map((p) => p.id);
  const all = [...PEERS, ...EXTRA];
  for (const id of ids) if (!all.some((p) => p.id === id)) throw new Error(`--only: unknown resolver ${id} (${all.map((p) => p.id).join(',')})`);
  return all.filter((p) => ids.includes(p.id));
}
