/** Every configuration example in the docs parses (CoreDNS's lesson: docs that drift are bugs). */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseConfigText } from '../src/config/load.js';

const docs = ['README.md', ...readdirSync('docs').map((f) => `docs/${f}`)].filter((f) => f.endsWith('.md'));

test('every yaml example in the docs is a valid configuration', () => {
  let count = 0;
  for (const file of docs) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/```yaml\n([\s\S]*?)```/g)) {
      count++;
      assert.doesNotThrow(() => parseConfigText(m[1]!, `${file} example ${count}`), `${file}: example ${count}`);
    }
  }
  assert.ok(count >= 4, `found ${count} examples`);
});

test('the shipped configs are valid', () => {
  for (const f of readdirSync('config').filter((x) => x.endsWith('.yaml'))) {
    assert.doesNotThrow(() => parseConfigText(readFileSync(`config/${f}`, 'utf8'), `config/${f}`));
  }
});
