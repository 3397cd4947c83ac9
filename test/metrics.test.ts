/** /metrics, /healthz, /readyz over real HTTP; counters move by the right amounts; names pass promtool's lint. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { parseConfigText } from '../src/config/load.js';
import { Type } from '../src/dns/constants.js';
import { emptyMessage } from '../src/dns/message.js';
import type { Transport, UpstreamQuestion, UpstreamReply } from '../src/resolver/transport.js';
import { Verdict } from '../src/resolver/verdict.js';
import { ask } from './helpers/client.js';

class Net implements Transport {
  async query(q: UpstreamQuestion): Promise<UpstreamReply> {
    const m = emptyMessage({ qr: true, aa: true, questions: [{ name: q.name, type: q.type, class: 1 }] });
    m.answers.push({ name: q.name, type: Type.A, class: 1, ttl: 300, rdata: Buffer.from([192, 0, 2, 1]) });
    return { message: m, rttMs: 1, sentName: q.name, tcp: false };
  }
}

let v: Verdict;
let dnsPort = 0;
let base = '';
before(async () => {
  const cfg = parseConfigText('server: { listen: ["127.0.0.1:0"] }\nmetrics: { listen: "127.0.0.1:0" }\nresolver: { qname_minimisation: false }\nlog: { level: silent }\ncontrol: { enabled: false }\ndnssec: { validation: false }\n', 't.yaml');
  v = new Verdict({ config: cfg, file: 't.yaml', baseDir: '.' }, { transport: new Net(), rootHints: [{ name: 'a.root.lab', address: '127.55.0.1' }] });
  await v.start();
  dnsPort = v.server.addresses[0]!.port;
  base = `http://127.0.0.1:${v.metricsAddress!.port}`;
});
after(() => v.stop());

function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

test('query counters move by exactly the number of queries', async () => {
  const series = 'verdict_queries_total{qtype="A",rcode="NOERROR",transport="udp"}';
  const first = await (await fetch(`${base}/metrics`)).text();
  const before = sample(first, series);
  const hitsBefore = sample(first, 'verdict_cache_hits_total');
  for (let i = 0; i < 7; i++) await ask(`m${i % 3}.example.`, Type.A, dnsPort);
  const text = await (await fetch(`${base}/metrics`)).text();
  assert.equal(sample(text, series) - before, 7);
  assert.equal(sample(text, 'verdict_cache_hits_total') - hitsBefore, 4, 'three names asked seven times: four cache hits');
  assert.ok(sample(text, 'verdict_answer_duration_seconds_count{source="resolver"}') >= 3);
  assert.equal(sample(text, 'verdict_fast_answers_total') - sample(first, 'verdict_fast_answers_total'), 4, 'repeats answered from the wire-form cache, before the pipeline');
  assert.ok(!/qname|client/.test(text.split('\n').filter((l) => l.startsWith('verdict_')).join('\n')), 'no qname or client label');
});

test('/healthz and /readyz answer', async () => {
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
  const r = await fetch(`${base}/readyz`);
  assert.equal(r.status, 200);
  assert.equal((await fetch(`${base}/nope`)).status, 404);
});

test('every metric name passes promtool check metrics', { skip: spawnSync('promtool', ['--version']).status !== 0 && 'promtool (Debian package prometheus) not installed' }, async () => {
  const text = await (await fetch(`${base}/metrics`)).text();
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('every series the Grafana dashboard queries is exported', async () => {
  const { readFileSync } = await import('node:fs');
  const dash = readFileSync('deploy/grafana-dashboard.json', 'utf8');
  const used = new Set([...dash.matchAll(/\b((?:verdict|process|nodejs)_[a-z0-9_]+)/g)].map((m) => m[1]!));
  const text = await (await fetch(`${base}/metrics`)).text();
  const exported = new Set([...text.matchAll(/^# TYPE (\S+) (\S+)/gm)].flatMap((m) => m[2] === 'histogram' ? [`${m[1]}_bucket`, `${m[1]}_sum`, `${m[1]}_count`] : [m[1]!]));
  assert.ok(used.size >= 10);
  for (const name of used) assert.ok(exported.has(name), `dashboard uses ${name}, which is not exported`);
});
