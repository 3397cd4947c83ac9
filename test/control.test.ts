/** verdict ctl: each command over the control socket, and refusal without the token. */
import assert from 'node:assert/strict';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseConfigText } from '../src/config/load.js';
import { Type } from '../src/dns/constants.js';
import { emptyMessage } from '../src/dns/message.js';
import { controlRequest } from '../src/control/client.js';
import type { Transport, UpstreamQuestion, UpstreamReply } from '../src/resolver/transport.js';
import { Verdict } from '../src/resolver/verdict.js';
import { ask } from './helpers/client.js';

class Net implements Transport {
  count = 0;
  async query(q: UpstreamQuestion): Promise<UpstreamReply> {
    this.count++;
    const m = emptyMessage({ qr: true, aa: true, questions: [{ name: q.name, type: q.type, class: 1 }] });
    m.answers.push({ name: q.name, type: Type.A, class: 1, ttl: 300, rdata: Buffer.from([192, 0, 2, 1]) });
    return { message: m, rttMs: 1, sentName: q.name, tcp: false };
  }
}

const dir = mkdtempSync(join(tmpdir(), 'verdict-ctl-'));
const socket = join(dir, 'ctl.sock');
const net = new Net();
let v: Verdict;
let port = 0;

before(async () => {
  const cfg = parseConfigText(`server: { listen: ["127.0.0.1:0"] }\nresolver: { qname_minimisation: false }\nlog: { level: silent }\ncontrol: { socket: "${socket}" }\ndnssec: { validation: false }\n`, 'ctl.yaml');
  v = new Verdict({ config: cfg, file: 'config/verdict.yaml', baseDir: '.' }, { transport: net, rootHints: [{ name: 'a.root.lab', address: '127.55.0.1' }] });
  await v.start();
  port = v.server.addresses[0]!.port;
});
after(() => v.stop());

test('the socket and its token are readable by the owner only', () => {
  assert.equal(statSync(socket).mode & 0o777, 0o600);
  assert.equal(statSync(socket + '.token').mode & 0o777, 0o600);
});

test('requests without the token, or with a wrong one, are refused', async () => {
  assert.equal((await controlRequest(socket, 'status', [], '')).status, 401);
  assert.equal((await controlRequest(socket, 'flush', [], 'wrong-token')).status, 401);
});

test('status reports the listeners and the cache', async () => {
  const r = await controlRequest(socket, 'status');
  assert.equal(r.status, 200);
  const body = r.body as { listening: { port: number }[]; cache: { records: number } };
  assert.ok(body.listening.some((l) => l.port === port));
});

test('flush NAME removes that name from the caches; the next query goes upstream', async () => {
  await ask('f.example.', Type.A, port);
  const before = net.count;
  await ask('f.example.', Type.A, port);
  assert.equal(net.count, before, 'cached');
  const r = await controlRequest(socket, 'flush', ['f.example']);
  assert.equal(r.status, 200);
  assert.equal((r.body as { records: number }).records, 1);
  await ask('f.example.', Type.A, port);
  assert.equal(net.count, before + 1);
});

test('reload re-reads the config file; unknown commands get 404', async () => {
  assert.equal((await controlRequest(socket, 'reload')).status, 200);
  assert.equal((await controlRequest(socket, 'nope')).status, 404);
});

test('zones lists the policy zones; transfer needs a zone with a primary; mirrors returns the watcher snapshot', async () => {
  const z = await controlRequest(socket, 'zones');
  assert.equal(z.status, 200);
  assert.deepEqual((z.body as { zones: unknown[] }).zones, [], 'no policy zone in this config');
  const t = await controlRequest(socket, 'transfer', ['feed.rpz']);
  assert.notEqual(t.status, 200);
  assert.match(JSON.stringify(t.body), /not a zone with a primary/);
  const m = await controlRequest(socket, 'mirrors');
  assert.equal(m.status, 200);
  assert.ok(Array.isArray((m.body as { candidates: unknown[] }).candidates));
});
