/** The transfer objects built from a configuration (DESIGN.md contract keys). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfigText } from '../src/config/load.js';
import { nameToText } from '../src/dns/name.js';
import { FileZoneStore } from '../src/rpz/transfer/secondary.js';
import { keyringFromConfig, notifyTargets, secondaryOptions, transferKey } from '../src/rpz/transfer/setup.js';

const secret = Buffer.alloc(32, 1).toString('base64');
const yaml = `
rpz:
  zones:
    - { name: feed.rpz, primary: "192.0.2.53:5300", tsig: feed-key, max_records: 5000 }
    - { name: v6.rpz, primary: "[2001:db8::53]" }
transfer:
  allow: ["127.0.0.0/8"]
  notify: ["127.0.0.1:5399", "192.0.2.7"]
  tsig: feed-key
  state_dir: var/lib/verdict/zones
  ixfr_history: 5
tsig_keys: { feed-key: { algorithm: hmac-sha256, secret: "${secret}" } }
`;

test('secondary options, NOTIFY targets and the transfer key come from the configuration', () => {
  const cfg = parseConfigText(yaml, 'test.yaml');
  const feed = secondaryOptions(cfg.rpz.zones[0]!, cfg, '/etc/verdict');
  assert.equal(nameToText(feed.zone), 'feed.rpz.');
  assert.deepEqual(feed.primary, { address: '192.0.2.53', port: 5300 });
  assert.equal(nameToText(feed.tsig!.name), 'feed-key.');
  assert.equal(feed.maxRecords, 5000);
  assert.ok(feed.store instanceof FileZoneStore);
  assert.equal((feed.store as FileZoneStore).path, '/etc/verdict/var/lib/verdict/zones/feed.rpz.zone');
  const v6 = secondaryOptions(cfg.rpz.zones[1]!, cfg, '/etc/verdict');
  assert.deepEqual(v6.primary, { address: '2001:db8::53', port: 53 });
  assert.equal(v6.tsig, undefined);
  assert.deepEqual(notifyTargets(cfg), [{ address: '127.0.0.1', port: 5399 }, { address: '192.0.2.7', port: 53 }]);
  assert.equal(nameToText(transferKey(cfg)!.name), 'feed-key.');
  assert.equal(keyringFromConfig(cfg).size, 1);
});

test('a bad key secret is an error naming the key', () => {
  const cfg = parseConfigText(yaml.replace(secret, 'not base64!'), 'test.yaml');
  assert.throws(() => keyringFromConfig(cfg), /feed-key: the secret is not base64/);
});
