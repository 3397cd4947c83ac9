/**
 * Mutations of text inputs (zone files, order files): byte-level, line-level
 * and token-level, with dictionaries of the syntax each parser knows.
 */
import type { Rng } from './rng.js';

export const ZONE_TOKENS = [
  '$ORIGIN', '$TTL', '$INCLUDE', '$GENERATE', '@', '(', ')', '"', '\\', '\\0', '\\255', '\\999', '\\.', ';', '*', '.', '..',
  'IN', 'CH', 'CLASS1', 'CLASS65535', 'TYPE1', 'TYPE65535', 'TYPE99999', '\\#', '\\# 0', '\\# 4 0a000001', '\\# 3 0a00',
  'A', 'AAAA', 'NS', 'CNAME', 'DNAME', 'SOA', 'MX', 'TXT', 'SRV', 'PTR', 'CAA', 'HTTPS', 'SVCB', 'DS', 'RRSIG', 'NSEC', 'LOC', 'NAPTR',
  'rpz-drop.', 'rpz-passthru.', 'rpz-tcp-only.', 'rpz-ip', 'rpz-nsdname', 'rpz-nsip', 'rpz-client-ip', '*.',
  '32.1.0.0.127', '128.1.zz.db8.2001', '0', '-1', '4294967295', '4294967296', '2147483648', '1w2d3h4m5s', '1W', '99999999999999999999',
  '192.0.2.1', '256.0.0.1', '::1', '2001:db8::1', '::ffff:1.2.3.4', '1.2.3', 'a'.repeat(63), 'a'.repeat(64), ('a'.repeat(63) + '.').repeat(4),
  '\t', ' ', '\n', '\r\n', '\r', '\x00', '\x7f', '\xff', 'é',
];

export const YAML_TOKENS = [
  '~', 'null', 'true', 'false', 'yes', 'no', '0', '-1', '1e309', '.nan', '.inf', '0x10', '0o17', '1_000', '""', "''", '[]', '{}',
  '[[[[[[[[[[', '{{{{{{{{', '&a', '*a', '*undefined', '<<: *a', '!!str', '!!binary', '!!map', '!!set', '!foo', '%YAML 1.1', '---', '...',
  '2013-02-30', '2013-13-01', '0000-00-00', '9999-12-31', '2013-11-28T25:00:00Z', '2014-01', '2014-1', '1970-01-01',
  '{ months: 0 }', '{ months: -1 }', '{ months: 1e6 }', '{ days: 99999999 }', '{ within_days: -5 }', '{ within_days: 1e9 }',
  'Europe/Paris', 'Mars/Olympus', 'UTC', 'Etc/GMT+14', 'suspended', 'lifted', 'active', 'nxdomain', '{ redirect: notice.example }',
  'xn--', 'xn--zz', '-bad-.tv', 'a..b', '.', '*.', 'exa mple.com', 'é.fr', 'a'.repeat(64) + '.com', ('a'.repeat(63) + '.').repeat(5) + 'com',
  '|', '>', '|-', '#', ':', '- ', '  ', '\t', '\n', '\r', '\x00', '\ufeff', '\u2028', '"\\x"', '"\\u{110000}"',
];

/** A YAML document that expands exponentially through aliases ("billion laughs"). */
export function yamlBomb(rng: Rng): string {
  const levels = rng.range(3, 12);
  const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < levels; i++) lines.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]`);
  lines.push(`domains: *a${levels - 1}`);
  return lines.join('\n') + '\n';
}

export function mutateText(rng: Rng, input: string, other: string, dict: readonly string[]): string {
  let s = input;
  const rounds = 1 + (rng.chance(0.5) ? 0 : rng.int(5));
  for (let r = 0; r < rounds; r++) s = mutateTextOnce(rng, s, other, dict);
  return s;
}

function mutateTextOnce(rng: Rng, s: string, other: string, dict: readonly string[]): string {
  const at = () => rng.int(s.length + 1);
  switch (rng.int(12)) {
    case 0: { // flip a byte
      const o = rng.int(Math.max(s.length, 1));
      return s.slice(0, o) + String.fromCharCode(s.charCodeAt(o) ^ (1 << rng.int(7)) || 0x20) + s.slice(o + 1);
    }
    case 1: { // insert a token
      const o = at();
      return s.slice(0, o) + rng.pick(dict) + (rng.chance(0.5) ? ' ' : '') + s.slice(o);
    }
    case 2: { // replace a word by a token
      const words = [...s.matchAll(/[^\s:,[\]{}]+/g)];
      if (!words.length) return s + rng.pick(dict);
      const w = rng.pick(words);
      return s.slice(0, w.index) + rng.pick(dict) + s.slice(w.index! + w[0].length);
    }
    case 3: { // delete a range
      const o = at();
      return s.slice(0, o) + s.slice(o + rng.range(1, 20));
    }
    case 4: { // truncate
      return s.slice(0, at());
    }
    case 5: { // duplicate a line, many times
      const lines = s.split('\n');
      const i = rng.int(lines.length);
      const times = rng.chance(0.9) ? rng.range(1, 3) : rng.range(50, 500);
      lines.splice(i, 0, ...Array<string>(times).fill(lines[i]!));
      return lines.join('\n');
    }
    case 6: { // delete a line
      const lines = s.split('\n');
      lines.splice(rng.int(lines.length), 1);
      return lines.join('\n');
    }
    case 7: { // swap two lines
      const lines = s.split('\n');
      const i = rng.int(lines.length);
      const j = rng.int(lines.length);
      [lines[i], lines[j]] = [lines[j]!, lines[i]!];
      return lines.join('\n');
    }
    case 8: { // change indentation of a line
      const lines = s.split('\n');
      const i = rng.int(lines.length);
      lines[i] = rng.pick(['', ' ', '  ', '    ', '\t', '   ']) + lines[i]!.trimStart();
      return lines.join('\n');
    }
    case 9: { // splice with another input
      const o = at();
      const p = rng.int(Math.max(other.length, 1));
      return s.slice(0, o) + other.slice(p, p + rng.range(1, 400));
    }
    case 10: { // a long run of one character
      const o = at();
      return s.slice(0, o) + rng.pick(['(', ')', '"', '\\', 'a', '.', '[', '{', ' ', '-', '9']).repeat(rng.range(10, 3000)) + s.slice(o);
    }
    default: { // random bytes
      const o = at();
      let ins = '';
      for (let i = rng.range(1, 10); i > 0; i--) ins += String.fromCharCode(rng.int(256));
      return s.slice(0, o) + ins + s.slice(o);
    }
  }
}
