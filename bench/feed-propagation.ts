/**
 * Issue 16: time from a change at a live feed to the answer clients get.
 *
 * A real Knot DNS primary serves an RPZ-style feed zone bound (orders.feeds)
 * to a court order; a Verdict resolves the lab. Each round adds one lab name
 * to the feed (Knot reloads the zone, sends NOTIFY; Verdict transfers the
 * IXFR, judges the entry, recompiles the order zone and swaps the policy) and
 * polls the name every 10 ms until the answer is NXDOMAIN with EDE 16; then
 * removes it and polls until the real answer comes back. The clock starts
 * before `knotc zone-reload`, so the figures include Knot's reload.
 *
 * Run (the lab binds 127.55.x.y port 53; a private network namespace keeps
 * it apart from other work on the machine):
 *   npx tsc -p . && unshare -n sh -c 'ip link set lo up && node dist/bench/feed-propagation.js [ROUNDS]'
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseConfigText } from '../src/config/load.js';
import { Ede, Rcode, Type } from '../src/dns/constants.js';
import { makeEdns, readEde } from '../src/dns/edns.js';
import type { Message } from '../src/dns/message.js';
import { rootHintsYaml, startLab } from '../src/lab/lab.js';
import { Verdict } from '../src/resolver/verdict.js';
import { ask } from '../test/helpers/client.js';
import { hasKnot, startKnot } from '../test/helpers/knot.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KNOT = '127.55.241.1';
const VERDICT = '127.55.241.2';
const PORT = 5353;
const ROUNDS = Number(process.argv[2] ?? 20);
/** Lab names that resolve (each round blocks one, then lifts it). */
const NAMES = ['dpstream.net', 'dpstream.pw', 'dpstream.cc', 'dpstream.me', 'fifostream.com', 'fifostream.org', 'alloshotv.com', 'allomovies.com'];

function feedZone(serial: number, names: string[]): string {
  return `$ORIGIN live.feed.\n$TTL 60\n@ SOA ns.live.feed. admin.live.feed. ${serial} 3600 600 86400 60\n@ NS ns.example.\n`
    + names.map((n) => `${n} CNAME .\n*.${n} CNAME .\n`).join('');
}

const q = (name: string): Promise<Message> => ask(name, Type.A, PORT, { address: VERDICT, edns: makeEdns(1232) });
const blocked = (m: Message) => m.rcode === Rcode.NXDOMAIN && readEde(m).some((e) => e.code === Ede.CENSORED);
const resolves = (m: Message) => m.rcode === Rcode.NOERROR && m.answers.some((r) => r.type === Type.A);

async function until(name: string, ok: (m: Message) => boolean, t0: number): Promise<number> {
  for (let i = 0; i < 1000; i++) {
    if (ok(await q(name))) return performance.now() - t0;
    await sleep(10);
  }
  throw new Error(`${name}: no change within 10 s`);
}

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return `min ${s[0]!.toFixed(0)}  median ${at(0.5).toFixed(0)}  p95 ${at(0.95).toFixed(0)}  max ${s[s.length - 1]!.toFixed(0)} ms`;
}

async function main(): Promise<void> {
  if (!hasKnot()) throw new Error('knotd is not installed (scripts/deps.sh)');
  const dir = mkdtempSync(join(tmpdir(), 'verdict-bench-feed-'));
  mkdirSync(join(dir, 'orders'));
  writeFileSync(join(dir, 'orders/parent.yaml'), `id: bench-order
court: Bench court
decision_date: 2024-05-20
parties: { plaintiffs: [P], addressees: [ISP] }
effective: 2024-05-21
until: 2024-12-31
action: nxdomain
domains: [dpstream.tv]
`);
  const lab = await startLab();
  const knot = await startKnot({ address: KNOT, zones: [{ name: 'live.feed', text: feedZone(1, []), notify: { address: VERDICT, port: PORT } }] });
  const yaml = `server: { listen: ["${VERDICT}:${PORT}"], allow: ["127.0.0.0/8"] }
${rootHintsYaml(lab.rootHints)}  upstream_timeout_ms: 400
orders:
  files: ["orders/*.yaml"]
  clock: "2024-06-01T18:00:00Z"
  safeguards: { state_file: held.json }
  feeds: [{ id: bench-feed, zone: live.feed, primary: "${KNOT}", parent: bench-order }]
control: { enabled: false }
mirrors: { enabled: false }
log: { level: silent }
dnssec: { trust_anchor_file: ${resolve(ROOT, 'lab/keys/root.ds')} }
`;
  const v = new Verdict({ config: parseConfigText(yaml, 'bench.yaml'), file: 'bench.yaml', baseDir: dir }, { rootHints: lab.rootHints });
  await v.start();
  const block: number[] = [];
  const lift: number[] = [];
  let serial = 1;
  try {
    for (const n of NAMES) if (!resolves(await q(`${n}.`))) throw new Error(`${n} does not resolve in the lab`);
    for (let r = 0; r < ROUNDS; r++) {
      const name = NAMES[r % NAMES.length]!;
      let t0 = performance.now();
      knot.update('live.feed', feedZone(++serial, [name]));
      block.push(await until(`www.${name}.`, blocked, t0));
      t0 = performance.now();
      knot.update('live.feed', feedZone(++serial, []));
      lift.push(await until(`www.${name}.`, resolves, t0));
    }
  } finally {
    await v.stop();
    await knot.stop();
    await lab.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`feed propagation, ${ROUNDS} rounds (Knot ${KNOT} -> NOTIFY -> IXFR -> Verdict), load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
  process.stdout.write(`  change -> enforced (NXDOMAIN, EDE 16): ${stats(block)}\n`);
  process.stdout.write(`  change -> lifted (real answer):        ${stats(lift)}\n`);
}

main().catch((e: Error) => {
  process.stderr.write(`${e.stack ?? e.message}\n`);
  process.exit(1);
});
