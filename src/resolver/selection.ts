/**
 * Server selection by smoothed RTT per address, in the manner BIND and Unbound
 * describe: prefer the fastest, still probe the others now and then (their RTT
 * may have improved), and back off servers that time out.
 */
export interface ServerState {
  srtt: number;
  /** Consecutive timeouts. */
  failures: number;
  /** Do not use before this instant (ms), unless nothing else is left. */
  backoffUntil: number;
}

const ALPHA = 0.3; // weight of a new sample in the smoothed RTT
const UNKNOWN_RTT = 50; // ms: new servers are tried early (a cheap probe), like BIND's random small initial SRTT
const TIMEOUT_PENALTY = 1000;
const MAX_BACKOFF = 60_000;
const EXPLORE = 0.05;

export class ServerSelection {
  private readonly servers = new Map<string, ServerState>();

  constructor(private readonly now: () => number = Date.now, private readonly random: () => number = Math.random) {}

  state(address: string): ServerState | undefined {
    return this.servers.get(address);
  }

  private get(address: string): ServerState {
    let s = this.servers.get(address);
    if (!s) {
      s = { srtt: UNKNOWN_RTT * (0.5 + this.random()), failures: 0, backoffUntil: 0 };
      if (this.servers.size > 100_000) this.servers.clear(); // bounded memory
      this.servers.set(address, s);
    }
    return s;
  }

  recordRtt(address: string, ms: number): void {
    const s = this.get(address);
    s.srtt = s.srtt * (1 - ALPHA) + ms * ALPHA;
    s.failures = 0;
    s.backoffUntil = 0;
  }

  recordTimeout(address: string): void {
    const s = this.get(address);
    s.failures++;
    s.srtt = Math.min(s.srtt + TIMEOUT_PENALTY, 10_000);
    if (s.failures >= 2) s.backoffUntil = this.now() + Math.min(MAX_BACKOFF, 1000 * 2 ** (s.failures - 2));
  }

  /** A server that answered badly (lame, REFUSED, SERVFAIL): not dead, but less attractive. */
  recordBadAnswer(address: string): void {
    const s = this.get(address);
    s.srtt = Math.min(s.srtt + 200, 10_000);
  }

  /** The addresses in the order to try them. */
  order(addresses: readonly string[]): string[] {
    const now = this.now();
    const scored = addresses.map((a) => ({ a, s: this.get(a) }));
    const alive = scored.filter((x) => x.s.backoffUntil <= now).sort((x, y) => x.s.srtt - y.s.srtt);
    const dead = scored.filter((x) => x.s.backoffUntil > now).sort((x, y) => x.s.backoffUntil - y.s.backoffUntil);
    if (alive.length > 1 && this.random() < EXPLORE) {
      // Probe a slower server first now and then so its estimate stays fresh.
      const i = 1 + Math.floor(this.random() * (alive.length - 1));
      const [pick] = alive.splice(i, 1);
      alive.unshift(pick!);
    }
    return [...alive, ...dead].map((x) => x.a);
  }
}
