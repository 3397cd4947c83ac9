/**
 * The serve command's cap on V8's young generation (src/resolver/young-generation.ts),
 * against a scripted V8: the new space's size and the growth factor it is given.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { capYoungGeneration } from '../src/resolver/young-generation.js';
import type { YoungGenerationHooks } from '../src/resolver/young-generation.js';

const MiB = 1024 * 1024;

interface FakeV8 {
  newSpace: number;
  factors: number[];
  gc: (() => void) | undefined;
  hooks: YoungGenerationHooks;
}

function fakeV8(newSpaceMiB: number): FakeV8 {
  const v8: FakeV8 = {
    newSpace: newSpaceMiB * MiB,
    factors: [],
    gc: undefined,
    hooks: {
      newSpaceBytes: () => v8.newSpace,
      setGrowthFactor: (f) => void v8.factors.push(f),
      afterGc(check) {
        v8.gc = check;
        return () => { v8.gc = undefined; };
      },
    },
  };
  return v8;
}

test('young generation: no growth while the modules load, growth up to the cap after, none past it', () => {
  const v8 = fakeV8(2); // V8's initial 2 x 1 MiB
  const cap = capYoungGeneration(4, v8.hooks);
  assert.deepEqual(v8.factors, [1], 'no growth from the first line of the CLI');
  assert.equal(v8.gc, undefined, 'nothing watched while the modules load');
  cap.allowGrowth();
  assert.deepEqual(v8.factors, [1, 2], 'loaded: may grow');
  v8.newSpace = 4 * MiB;
  v8.gc!();
  assert.deepEqual(v8.factors, [1, 2], 'below the cap: no change');
  v8.newSpace = 8 * MiB; // 2 x 4 MiB: the cap
  v8.gc!();
  assert.deepEqual(v8.factors, [1, 2, 1], 'at the cap: no more growth');
  v8.gc!();
  assert.deepEqual(v8.factors, [1, 2, 1], 'set once, not after every GC');
  v8.newSpace = 2 * MiB; // V8 shrank it (allocation slowed down)
  v8.gc!();
  assert.deepEqual(v8.factors, [1, 2, 1, 2], 'shrunk: may grow back');
  cap.stop();
  assert.equal(v8.gc, undefined);
  assert.ok(cap.growing);
});

test('young generation: a new space already at the cap when the modules are loaded stays there', () => {
  const v8 = fakeV8(8);
  const cap = capYoungGeneration(4, v8.hooks);
  cap.allowGrowth();
  cap.allowGrowth();
  assert.deepEqual(v8.factors, [1]);
  cap.stop();
  assert.deepEqual(v8.factors, [1, 2], 'stop() gives V8 its default back');
});
