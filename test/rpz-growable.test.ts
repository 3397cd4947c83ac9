/**
 * The policy tables' storage: growable arrays (plain, then resizable buffers
 * past 64 KiB) and the narrowed columns a zone freezes into. Big enough to
 * take every path: the plain-to-resizable switch, growth in place, a new
 * reservation, 8-, 16- and 32-bit data indexes, dictionary and raw TTLs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Class, Type } from '../src/dns/constants.js';
import { nameFromText } from '../src/dns/name.js';
import { Growable } from '../src/rpz/growable.js';
import { PolicyZoneBuilder } from '../src/rpz/zone.js';

test('growable: keeps its contents across growth (plain, resizable, new reservation) and freezes to an exact plain copy', () => {
  const g = new Growable(Uint32Array, 4);
  const n = 20_000_000; // 80 MB: past the first 64 MiB reservation
  for (let i = 0; i < n; i += 997) {
    const a = i < g.a.length ? g.a : g.reserve(i + 1);
    a[i] = i ^ 0x5a5a5a5a;
  }
  assert.ok(g.a.length >= n - 997);
  const frozen = g.freeze(n - n % 997);
  assert.equal(frozen.length, n - n % 997);
  assert.equal((frozen.buffer as ArrayBuffer & { resizable?: boolean }).resizable ?? false, false, 'lookups read plain arrays');
  let bad = 0;
  for (let i = 0; i < frozen.length; i++) if (frozen[i] !== (i % 997 === 0 ? (i ^ 0x5a5a5a5a) >>> 0 : 0)) bad++;
  assert.equal(bad, 0);
  assert.equal(g.a.length, 0, 'released');
});

test('growable: a new element is 0, also after a release and regrowth', () => {
  const g = new Growable(Uint8Array, 1);
  g.reserve(100_000).fill(7);
  g.release();
  const a = g.reserve(200_000);
  assert.equal(a.length, 200_000);
  assert.ok(a.every((v) => v === 0));
});

/** A zone of `n` QNAME rules: local data (A) at every `every`-th (none for 0), a CNAME redirect elsewhere; TTL from `ttl(i)`. */
function bigZone(n: number, every: number, ttl: (i: number) => number) {
  const b = new PolicyZoneBuilder('big.rpz');
  const target = nameFromText('walled.example.');
  for (let i = 0; i < n; i++) {
    const name = nameFromText(`r${i}.example.big.rpz.`);
    if (every && i % every === 0) b.add({ name, type: Type.A, class: Class.IN, ttl: ttl(i), rdata: Buffer.from([10, (i >> 16) & 255, (i >> 8) & 255, i & 255]) });
    else b.add({ name, type: Type.CNAME, class: Class.IN, ttl: ttl(i), rdata: target });
  }
  return b.build();
}

test('columns: each rule keeps its action, data and TTL, whatever the width the columns were narrowed to', () => {
  // One action, TTL and target for all (constant columns); 3 TTLs and 100 local-data rules (8-bit),
  // 300 TTLs and 3,000 (16-bit), 1,000 TTLs and 66,000 (32-bit).
  for (const [n, every, ttls] of [[2_000, 0, 1], [300, 3, 3], [9_000, 3, 300], [66_000, 1, 1000]] as const) {
    const z = bigZone(n, every, (i) => 60 + (i % ttls));
    assert.equal(z.ruleCount, n);
    let i = 0;
    for (const rule of z.rules()) {
      const k = Number(/^r([0-9]+)\./.exec(z.ruleText(rule))![1]);
      assert.equal(rule.ttl, 60 + (k % ttls), `TTL of rule ${k} (${n} rules)`);
      if (every && k % every === 0) {
        assert.ok(rule.given.kind === 'local-data');
        const rdata = rule.given.records[0]!.rdata;
        assert.deepEqual([...rdata], [10, (k >> 16) & 255, (k >> 8) & 255, k & 255], `data of rule ${k}`);
      } else {
        assert.equal(rule.given.kind, 'cname');
      }
      i++;
    }
    assert.equal(i, n);
    if (every === 0) {
      // The same names with two TTLs: the TTL column then takes a byte a rule (and the second TTL 4 bytes).
      const two = bigZone(n, every, (i) => 60 + (i % 2));
      assert.equal(two.tableBytes - z.tableBytes, n + 4, 'a column with one value takes no room');
    }
  }
});
