/**
 * Master-file parser throughput on a 1,000,000-rule RPZ zone (plus 100,000 CIDR rules).
 * Usage: npm run bench:parse [-- RULES]
 * Prints the median of 3 runs: seconds, records per second.
 */
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nameFromText } from '../src/dns/name.js';
import { parseZoneFile } from '../src/rpz/masterfile.js';
import { writeRpz } from './gen-rpz.js';

const rules = Number(process.argv[2] ?? 1_000_000);
const file = join(tmpdir(), `verdict-bench-${rules}.rpz`);
if (!existsSync(file)) {
  process.stdout.write(`generating ${file} ...\n`);
  await writeRpz(file, rules, Math.floor(rules / 10));
}
const times: number[] = [];
let records = 0;
for (let run = 0; run < 3; run++) {
  const t0 = performance.now();
  const st = await parseZoneFile(file, () => undefined, { origin: nameFromText('bench.rpz.') });
  times.push((performance.now() - t0) / 1000);
  records = st.records;
}
times.sort((a, b) => a - b);
const med = times[1]!;
process.stdout.write(`parse ${records} records: median ${med.toFixed(2)} s (runs ${times.map((t) => t.toFixed(2)).join(', ')}), ${(records / med / 1e6).toFixed(2)} M records/s\n`);
