import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ServerSelection } from '../src/resolver/selection.js';

function rng(seed: number) {
  return () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

test('the fastest server is preferred, the others are still probed', () => {
  const sel = new ServerSelection(() => 0, rng(1));
  for (let i = 0; i < 5; i++) {
    sel.recordRtt('192.0.2.1', 80);
    sel.recordRtt('192.0.2.2', 5);
    sel.recordRtt('192.0.2.3', 40);
  }
  let firstFast = 0;
  let firstOther = 0;
  for (let i = 0; i < 1000; i++) {
    const o = sel.order(['192.0.2.1', '192.0.2.2', '192.0.2.3']);
    if (o[0] === '192.0.2.2') firstFast++;
    else firstOther++;
  }
  assert.ok(firstFast > 900, `fast first ${firstFast}`);
  assert.ok(firstOther > 10, `others probed ${firstOther}`);
});

test('servers that time out are backed off and put last', () => {
  let now = 0;
  const sel = new ServerSelection(() => now, () => 0.5);
  sel.recordRtt('192.0.2.1', 10);
  sel.recordRtt('192.0.2.2', 30);
  sel.recordTimeout('192.0.2.1');
  sel.recordTimeout('192.0.2.1');
  assert.deepEqual(sel.order(['192.0.2.1', '192.0.2.2']), ['192.0.2.2', '192.0.2.1']);
  now += 120_000;
  sel.recordRtt('192.0.2.1', 1);
  assert.equal(sel.state('192.0.2.1')!.failures, 0);
});
