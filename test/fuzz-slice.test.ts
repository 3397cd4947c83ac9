/**
 * A short slice of the fuzzer (fuzz/, `npm run fuzz`) for CI: 20,000 inputs
 * over the four targets (server over real loopback sockets, upstream responses
 * through the iterator, the master-file parser, the order loader), with a
 * fixed seed so a failure reproduces; FUZZ_SEED picks another.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatFigures, runFuzz } from '../fuzz/fuzzer.js';

test('fuzz slice: 20,000 inputs, no crash, no hang, no invalid reply, no unhandled rejection', async () => {
  const seed = Number(process.env.FUZZ_SEED ?? 20240601) >>> 0;
  const s = await runFuzz({ targets: [], count: 20_000, seconds: 100, seed, watchdogMs: 20_000 });
  console.log(`seed ${seed}\n${formatFigures(s)}`);
  for (const f of s.findings.slice(0, 5)) console.log(`${f.kind} in ${f.target} at input ${f.index}: ${f.detail}\n  input: ${f.input ?? ''}`);
  assert.equal(s.findings.length, 0, `${s.findings.length} findings (seed ${seed}); replay with npm run fuzz -- --target T --seed ${seed} --replay I`);
  assert.equal(s.targets.length, 4);
  for (const t of s.targets) assert.equal(t.inputs, 5000, `${t.target} ran ${t.inputs} of 5000 inputs in its time share`);
  // The server target really exchanged packets.
  const server = s.targets.find((t) => t.target === 'server')!;
  assert.ok(server.replies > 2000, `${server.replies} server replies`);
  // Its datagrams went through the batched UDP addon (native/udp), or through node:dgram when forced so.
  if (process.env.VERDICT_UDP_IO === 'dgram') assert.equal(server.batchedUdp, 0);
  else if (process.env.VERDICT_UDP_ADDON !== 'optional') assert.ok((server.batchedUdp ?? 0) > 1000, `${server.batchedUdp} datagrams through the addon`);
});
