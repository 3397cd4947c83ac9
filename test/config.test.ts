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

// ---------------------------------------------------------------- hostile YAML (issue 7)

/** assert.throws validator: a ConfigError whose message matches `re`. */
const configError = (re: RegExp) => (e: unknown) => e instanceof ConfigError && re.test(e.message);

/** A "billion laughs": `levels` anchors, each a list of ten aliases of the one before (10^levels leaves). */
function aliasBomb(levels: number, under = 'server:\n  listen: '): string {
  const lines = ['x0: &x0 ["127.0.0.1:5353", "127.0.0.1:5353", "127.0.0.1:5353", "127.0.0.1:5353", "127.0.0.1:5353", "127.0.0.1:5353", "127.0.0.1:5353", "127.0.0.1:5353", "127.0.0.1:5353", "127.0.0.1:5353"]'];
  for (let i = 1; i <= levels; i++) lines.push(`x${i}: &x${i} [${Array(10).fill(`*x${i - 1}`).join(', ')}]`);
  return lines.join('\n') + `\n${under}*x${levels}\n`;
}

test('an alias bomb in the config is refused at once, naming file:line:col', () => {
  const started = performance.now();
  assert.throws(() => parseConfigText(aliasBomb(9), 'bomb.yaml'), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.match((e as Error).message, /^bomb\.yaml:2:\d+: aliases expand to more than 100 nodes \(an alias bomb, "billion laughs"\?\); refused$/);
    return true;
  });
  // 10^9 strings would take minutes and more memory than the machine has; the refusal takes milliseconds.
  assert.ok(performance.now() - started < 1000, `refused in ${Math.round(performance.now() - started)} ms`);
});

test('a few ordinary aliases are still accepted', () => {
  const cfg = parseConfigText('server:\n  allow: &lo ["127.0.0.0/8", "::1/128"]\ntransfer:\n  allow: *lo\n', 'ok.yaml');
  assert.deepEqual(cfg.transfer.allow, ['127.0.0.0/8', '::1/128']);
});

test('collections nested absurdly deep are refused before parsing', () => {
  for (const text of [`server:\n  listen: ${'['.repeat(200_000)}${']'.repeat(200_000)}\n`, `server:\n  listen:\n    ${'- '.repeat(200_000)}x\n`]) {
    const started = performance.now();
    assert.throws(() => parseConfigText(text, 'deep.yaml'), configError(/^deep\.yaml:\d+:\d+: collections nested more than 64 levels deep; refused$/));
    assert.ok(performance.now() - started < 1000, `refused in ${Math.round(performance.now() - started)} ms`);
  }
});

test('a configuration file over 1 MiB is refused unread, and so is an endless one', async () => {
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'verdict-bigcfg-'));
  try {
    const file = join(dir, 'huge.yaml');
    // Valid YAML all the way (comments), so only its size can be the reason.
    writeFileSync(file, '# padding\n'.repeat(110_000) + 'server: { listen: ["127.0.0.1:5353"] }\n');
    assert.throws(() => loadConfig(file), configError(/^.*\/huge\.yaml: larger than 1 MiB, the most this file may hold; refused unread$/));
    assert.throws(() => parseConfigText('#'.repeat(1024 * 1024 + 1), 'text.yaml'), configError(/^text\.yaml: larger than 1 MiB/));
    // /dev/zero never ends: read whole, it would exhaust memory; the cap stops at 1 MiB.
    const started = performance.now();
    assert.throws(() => loadConfig('/dev/zero'), configError(/^\/dev\/zero: larger than 1 MiB/));
    assert.ok(performance.now() - started < 1000);
    // Just under the cap is fine.
    writeFileSync(file, '# padding\n'.repeat(100_000) + 'server: { listen: ["127.0.0.1:5353"] }\n');
    assert.deepEqual(loadConfig(file).config.server.listen, ['127.0.0.1:5353']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('rpz.startup: wait 3 s by default; the mode is one of wait, servfail, closed', () => {
  assert.deepEqual(parseConfigText('', 'd.yaml').rpz.startup, { mode: 'wait', wait_ms: 3000, max_waiting: 10000 });
  assert.deepEqual(parseConfigText('rpz: { startup: { mode: servfail } }', 's.yaml').rpz.startup.mode, 'servfail');
  assert.throws(() => parseConfigText('rpz:\n  startup: { mode: open }\n', 'o.yaml'), /o\.yaml:2:\d+: rpz\.startup\.mode: /);
  assert.throws(() => parseConfigText('rpz:\n  startup: { wait_ms: 600000 }\n', 'w.yaml'), /w\.yaml:2:\d+: rpz\.startup\.wait_ms: /);
});

test('cache.max_bytes: bytes or k/m/g as Unbound writes sizes; 1 GiB by default; bad sizes say where', () => {
  assert.equal(parseConfigText('cache: { max_bytes: 512m }\n', 'x.yaml').cache.max_bytes, 512 * 1024 ** 2);
  assert.equal(parseConfigText('cache: { max_bytes: 2G }\n', 'x.yaml').cache.max_bytes, 2 * 1024 ** 3);
  assert.equal(parseConfigText('cache: { max_bytes: 1048576 }\n', 'x.yaml').cache.max_bytes, 1048576);
  assert.equal(parseConfigText('cache: {}\n', 'x.yaml').cache.max_bytes, 1024 ** 3);
  assert.equal(parseConfigText('cache: {}\n', 'x.yaml').cache.max_entries, undefined);
  assert.throws(() => parseConfigText('cache:\n  max_bytes: 12 tons\n', 'x.yaml'), /x\.yaml:2:\d+: cache\.max_bytes: .*k, m or g/);
  assert.throws(() => parseConfigText('cache:\n  max_bytes: 1k\n', 'x.yaml'), /x\.yaml:2:\d+: cache\.max_bytes: .*64k/);
});
