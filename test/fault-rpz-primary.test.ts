/**
 * An RPZ primary unreachable (issue 7, "Faults"), through the whole server:
 * Verdict B is a secondary of `feed.rpz`, whose primary is Verdict A (a file
 * zone served by AXFR on 127.55.248.1:53). A stops. B keeps enforcing the
 * zone through every failed refresh and retry until the SOA expire (3,600 s
 * after the last contact), then stops enforcing it and says so; when A comes
 * back the zone is pulled and enforced again.
 *
 * Time is moved, not waited for: node:test's mock timers drive setTimeout and
 * Date (the SOA timers, the transfer and SOA-query timeouts); sockets are
 * real, and the test yields to the event loop with setImmediate between ticks.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, mock, test } from 'node:test';
import pino from 'pino';
import { parseConfigText } from '../src/config/load.js';
import { Rcode, Type } from '../src/dns/constants.js';
import { decodeMessage, emptyMessage, encodeMessage, makeQuery } from '../src/dns/message.js';
import type { Message } from '../src/dns/message.js';
import { nameFromText } from '../src/dns/name.js';
import type { Transport, UpstreamQuestion, UpstreamReply } from '../src/resolver/transport.js';
import { Verdict } from '../src/resolver/verdict.js';

const PRIMARY = '127.55.248.1';
const SECONDARY = '127.55.248.2';
const dir = mkdtempSync(join(tmpdir(), 'verdict-rpz-primary-'));
const silent = pino({ level: 'silent' });

/** The internet as B sees it: every name has 192.0.2.1 (so an unenforced name answers NOERROR). */
class Net implements Transport {
  async query(q: UpstreamQuestion): Promise<UpstreamReply> {
    const m = emptyMessage({ qr: true, aa: true, questions: [{ name: q.name, type: q.type, class: 1 }] });
    if (q.type === Type.A) m.answers.push({ name: q.name, type: Type.A, class: 1, ttl: 30, rdata: Buffer.from([192, 0, 2, 1]) });
    return { message: m, rttMs: 1, sentName: q.name, tcp: false };
  }
}

const turn = () => new Promise<void>((r) => setImmediate(r));

/** Move the mocked clock by `seconds`, one second at a time, letting sockets and promises run in between. */
async function advance(seconds: number): Promise<void> {
  for (let i = 0; i < seconds; i++) {
    mock.timers.tick(1000);
    for (let k = 0; k < 4; k++) await turn();
  }
}

/** One UDP query; waits by event-loop turns (setTimeout is mocked), at most `turns` of them. */
async function query(port: number, name: string, turns = 2000): Promise<Message | undefined> {
  const s = createSocket('udp4');
  let reply: Message | undefined;
  s.on('message', (m) => { reply = decodeMessage(m); });
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  s.send(encodeMessage(makeQuery(7, nameFromText(name), Type.A, { rd: true })), port, SECONDARY);
  for (let i = 0; i < turns && !reply; i++) await turn();
  s.close();
  return reply;
}

async function blocked(port: number): Promise<boolean> {
  const m = await query(port, 'www.blocked.example.');
  assert.ok(m, 'B answers');
  return m.rcode === Rcode.NXDOMAIN;
}

function verdict(yaml: string, name: string): Verdict {
  const cfg = parseConfigText(`${yaml}\ncontrol: { enabled: false }\ndnssec: { validation: false }\nmirrors: { enabled: false }\nlog: { level: silent }\n`, name);
  return new Verdict({ config: cfg, file: name, baseDir: dir }, { transport: new Net(), rootHints: [{ name: 'a.root.lab', address: '127.55.248.9' }], logger: silent });
}

const running: Verdict[] = [];
after(async () => {
  mock.timers.reset();
  for (const v of running) await v.stop().catch(() => undefined);
});

test('primary unreachable: the old zone is enforced until the SOA expire, then not; back again when the primary is', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: Date.parse('2026-01-01T00:00:00Z') });
  // refresh 60 s, retry 10 s, expire 3,600 s: the lowest the secondary accepts (its clamps).
  writeFileSync(join(dir, 'feed.rpz'), '$TTL 60\n@ SOA ns.feed.rpz. hostmaster.feed.rpz. 1 60 10 3600 60\n@ NS ns.feed.rpz.\n*.blocked.example CNAME .\n');
  const primaryYaml = `server: { listen: ["${PRIMARY}:53"] }\nrpz: { zones: [{ name: feed.rpz, file: feed.rpz }] }\ntransfer: { allow: ["127.0.0.0/8"] }`;
  const startPrimary = async () => {
    const a = verdict(primaryYaml, 'primary.yaml');
    running.push(a);
    await a.start();
    return a;
  };
  let a = await startPrimary();

  const b = verdict(`server: { listen: ["${SECONDARY}:0"] }\nrpz: { zones: [{ name: feed.rpz, primary: "${PRIMARY}:53" }] }`, 'secondary.yaml');
  running.push(b);
  // Start-up transfers the zone: sockets need turns of the loop, timeouts need the clock to move.
  let started = false;
  const starting = b.start().then(() => { started = true; });
  for (let i = 0; i < 5000 && !started; i++) {
    mock.timers.tick(10);
    await turn();
  }
  await starting;
  const port = b.server.addresses[0]!.port;
  const zone = () => b.policy.status().find((z) => z.zone.startsWith('feed.rpz'))!;
  assert.equal(zone().enforced, true);
  assert.equal(await blocked(port), true, 'the transferred rule is enforced');
  assert.equal((await query(port, 'www.example.'))!.rcode, Rcode.NOERROR, 'other names resolve');

  // The primary goes away.
  await a.stop();
  await advance(75); // the refresh at 60 s fails, and a retry
  assert.ok(zone().error, 'the failure is reported');
  assert.equal(zone().enforced, true);
  assert.equal(await blocked(port), true, 'still enforced after failed refreshes');
  await advance(3600 - 75 - 10);
  assert.equal(zone().expired ?? false, false);
  assert.equal(await blocked(port), true, '10 s before expire: still enforced');

  await advance(15);
  assert.equal(zone().expired, true, 'expired: 3,600 s without contact');
  assert.equal(zone().enforced, false);
  const gone = await query(port, 'www.blocked.example.');
  assert.equal(gone!.rcode, Rcode.NOERROR, 'past expire the zone no longer applies');

  // The primary is back: the next retry pulls the zone, enforced again.
  a = await startPrimary();
  await advance(15);
  assert.equal(zone().expired ?? false, false);
  assert.equal(zone().enforced, true);
  assert.equal(await blocked(port), true, 'enforced again once the primary answers');
});
