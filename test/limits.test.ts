/** Abuse limits: per-client rate limit and the cap on concurrent recursions. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfigText } from '../src/config/load.js';
import { Rcode, Type } from '../src/dns/constants.js';
import { emptyMessage } from '../src/dns/message.js';
import { RateLimiter } from '../src/resolver/ratelimit.js';
import type { Transport, UpstreamQuestion, UpstreamReply } from '../src/resolver/transport.js';
import { Verdict } from '../src/resolver/verdict.js';
import { ask } from './helpers/client.js';

test('token bucket: burst, then the configured rate', () => {
  let now = 0;
  const rl = new RateLimiter(10, 5, () => now);
  let ok = 0;
  for (let i = 0; i < 20; i++) if (rl.take('192.0.2.1')) ok++;
  assert.equal(ok, 5, 'burst of 5');
  now += 1000;
  ok = 0;
  for (let i = 0; i < 20; i++) if (rl.take('192.0.2.1')) ok++;
  assert.equal(ok, 5, 'refilled up to the burst after one second at 10 qps');
  assert.ok(rl.take('192.0.2.2'), 'clients are independent');
});

/** An upstream that answers after `delayMs`. */
class SlowNet implements Transport {
  constructor(private readonly delayMs: number) {}
  async query(q: UpstreamQuestion): Promise<UpstreamReply> {
    await new Promise((r) => setTimeout(r, this.delayMs));
    const m = emptyMessage({ qr: true, aa: true, questions: [{ name: q.name, type: q.type, class: 1 }] });
    m.answers.push({ name: q.name, type: Type.A, class: 1, ttl: 300, rdata: Buffer.from([192, 0, 2, 1]) });
    return { message: m, rttMs: this.delayMs, sentName: q.name, tcp: false };
  }
}

test('past max_concurrent recursions, SERVFAIL at once; the others complete', async () => {
  const cfg = parseConfigText('server: { listen: ["127.0.0.1:0"] }\nresolver: { qname_minimisation: false, max_concurrent: 3 }\nlog: { level: silent }\ncontrol: { enabled: false }\ndnssec: { validation: false }\n', 'c.yaml');
  const v = new Verdict({ config: cfg, file: 'c.yaml', baseDir: '.' }, { transport: new SlowNet(300), rootHints: [{ name: 'a.root.lab', address: '127.55.0.1' }] });
  await v.start();
  try {
    const port = v.server.addresses[0]!.port;
    const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => ask(`c${i}.example.`, Type.A, port)));
    const ok = replies.filter((r) => r.rcode === Rcode.NOERROR).length;
    const busy = replies.filter((r) => r.rcode === Rcode.SERVFAIL).length;
    assert.equal(ok, 3);
    assert.equal(busy, 5);
  } finally {
    await v.stop();
  }
});

test('a client over its rate limit gets silence, loopback is exempt unless configured', async () => {
  const cfg = parseConfigText('server: { listen: ["127.0.0.1:0"], rate_limit: { qps: 0.01, burst: 3, limit_loopback: true } }\nresolver: { qname_minimisation: false }\nlog: { level: silent }\ncontrol: { enabled: false }\ndnssec: { validation: false }\n', 'r.yaml');
  const v = new Verdict({ config: cfg, file: 'r.yaml', baseDir: '.' }, { transport: new SlowNet(1), rootHints: [{ name: 'a.root.lab', address: '127.55.0.1' }] });
  await v.start();
  try {
    const port = v.server.addresses[0]!.port;
    let answered = 0;
    for (let i = 0; i < 6; i++) {
      try {
        await ask('r.example.', Type.A, port);
        answered++;
      } catch {
        // dropped: the client times out
      }
    }
    assert.equal(answered, 3);
    // TCP is not limited (no spoofing possible).
    assert.equal((await ask('r.example.', Type.A, port, { tcp: true })).rcode, Rcode.NOERROR);
  } finally {
    await v.stop();
  }
});
