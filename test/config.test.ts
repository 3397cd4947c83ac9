import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig, parseConfigText } from '../src/config/load.js';
import { AccessList, isLoopback } from '../src/resolver/acl.js';

test('the shipped default config is valid and allows loopback only', () => {
  const { config } = loadConfig('config/verdict.yaml');
  assert.deepEqual(config.server.listen, ['127.0.0.1:5353', '[::1]:5353']);
  const acl = new AccessList(config.server.allow);
  assert.ok(acl.allows('127.0.0.1'));
  assert.ok(acl.allows('::1'));
  assert.ok(!acl.allows('192.0.2.1'));
  assert.ok(!acl.allows('2001:db8::1'));
  assert.equal(config.cache.max_ttl, 86400);
  assert.equal(config.cache.max_negative_ttl, 10800);
});

test('errors name file, line, column and key', () => {
  const text = 'server:\n  listen: ["127.0.0.1:5353"]\n  allow: ["10.0.0.0/33"]\ncache:\n  max_entrys: 5\n';
  try {
    parseConfigText(text, 'x.yaml');
    assert.fail('should throw');
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    const msg = (e as Error).message;
    assert.match(msg, /x\.yaml:5:3: cache\.max_entrys: unknown key/);
  }
  assert.throws(() => parseConfigText(text.replace('  max_entrys: 5', '  max_entries: 500'), 'x.yaml'), /x\.yaml:3:\d+: server\.allow\.0: .*prefix length/);
});

test('YAML syntax errors carry their position', () => {
  assert.throws(() => parseConfigText('server:\n  listen: [\n', 'y.yaml'), /y\.yaml:\d+:\d+:/);
});

test('IPv4-mapped clients match IPv4 prefixes', () => {
  const acl = new AccessList(['192.0.2.0/24']);
  assert.ok(acl.allows('::ffff:192.0.2.7'));
  assert.ok(!acl.allows('::ffff:192.0.3.7'));
  assert.ok(isLoopback('127.55.0.1'));
  assert.ok(!isLoopback('128.0.0.1'));
});

test('root hints from a named.root-format file', async () => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const { rootHintsFromFile } = await import('../src/resolver/roothints.js');
  const dir = mkdtempSync(join(tmpdir(), 'hints-'));
  const f = join(dir, 'named.root');
  writeFileSync(f, '; root hints\n.                        3600000      NS    A.ROOT-SERVERS.NET.\nA.ROOT-SERVERS.NET.      3600000      A     198.41.0.4\nA.ROOT-SERVERS.NET.      3600000      AAAA  2001:503:ba3e::2:30\nother.example. 3600 A 192.0.2.1\n');
  assert.deepEqual(rootHintsFromFile(f), [
    { name: 'A.ROOT-SERVERS.NET.', address: '198.41.0.4' },
    { name: 'A.ROOT-SERVERS.NET.', address: '2001:503:ba3e::2:30' },
  ]);
  writeFileSync(f, '. 3600000 NS a.root.\na.root. 3600000 A 300.1.1.1\n');
  assert.throws(() => rootHintsFromFile(f), /named\.root:2:\d+:/);
});
