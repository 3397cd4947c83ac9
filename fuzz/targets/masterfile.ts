/**
 * Target (c): the master-file parser. parseZoneString must return or throw
 * ZoneSyntaxError located as file:line:col, nothing else, whatever the text.
 */
import { nameFromText, ROOT } from '../../src/dns/name.js';
import { parseZoneString, ZoneSyntaxError } from '../../src/rpz/masterfile.js';
import { inputRng } from '../rng.js';
import type { Rng } from '../rng.js';
import { mutateText, ZONE_TOKENS } from '../text.js';
import { describe, syncTarget } from '../target.js';
import type { Target, TargetContext } from '../target.js';

// $INCLUDE paths resolve under a directory that does not exist: no fuzzed input reads a real file.
const FILE = '/nonexistent-verdict-fuzz/fuzz.zone';
const LOCATED = /^\/nonexistent-verdict-fuzz\/[^\n]*:\d+:\d+: \S/;

/** A zone built from random entries of the grammar (owner, TTL, class, type, RDATA tokens). */
function generateZone(rng: Rng): string {
  const lines: string[] = [];
  for (let i = rng.range(1, 30); i > 0; i--) {
    const parts: string[] = [];
    if (rng.chance(0.1)) {
      parts.push(rng.pick(['$ORIGIN', '$TTL', '$INCLUDE', '$GENERATE', '$FOO']), rng.pick(ZONE_TOKENS));
    } else {
      parts.push(rng.chance(0.2) ? '' : rng.pick(['@', 'www', '*.x', 'a.b.c.', '\\046', '32.1.0.0.127.rpz-ip', 'ns.rpz-nsdname', rng.pick(ZONE_TOKENS)]));
      if (rng.chance(0.5)) parts.push(String(rng.pick([0, 60, 3600, 4294967295, 4294967296, -1])));
      if (rng.chance(0.5)) parts.push(rng.pick(['IN', 'CH', 'CLASS1', 'CLASS9']));
      parts.push(rng.pick(ZONE_TOKENS.slice(21, 48)));
      for (let k = rng.int(6); k > 0; k--) parts.push(rng.pick(ZONE_TOKENS));
    }
    lines.push(parts.join(rng.pick([' ', '\t', '  '])));
  }
  return lines.join(rng.chance(0.9) ? '\n' : '\r\n');
}

export function masterfileInput(ctx: TargetContext, index: number): { text: string; lenient: boolean; include: boolean; origin: string } {
  const rng = inputRng(ctx.seed, index);
  const zones = ctx.corpus.zones;
  const base = rng.chance(0.2) ? generateZone(rng) : rng.pick(zones);
  const text = rng.chance(0.05) ? base : mutateText(rng, base, rng.pick(zones), ZONE_TOKENS);
  return { text, lenient: rng.chance(0.3), include: rng.chance(0.1), origin: rng.pick(['.', 'fuzz.test.', 'rpz.', 'a.b.c.d.e.f.']) };
}

/** Run one input; undefined when the parser behaved, otherwise what was wrong. */
export function checkMasterfile(input: { text: string; lenient: boolean; include: boolean; origin: string }): { ok: boolean; rejected: boolean; problem?: string } {
  try {
    let records = 0;
    const stats = parseZoneString(input.text, () => { records++; }, {
      file: FILE, lenient: input.lenient, allowInclude: input.include, origin: input.origin === '.' ? ROOT : nameFromText(input.origin),
    });
    if (stats === undefined) return { ok: false, rejected: false, problem: 'no statistics returned' };
    return { ok: true, rejected: false };
  } catch (e) {
    if (e instanceof ZoneSyntaxError && LOCATED.test(e.message) && e.line >= 1 && e.column >= 1) return { ok: true, rejected: true };
    if (e instanceof ZoneSyntaxError) return { ok: false, rejected: true, problem: `ZoneSyntaxError without a location: ${e.message}` };
    return { ok: false, rejected: false, problem: describe(e) };
  }
}

export async function masterfileTarget(ctx: TargetContext): Promise<Target> {
  return syncTarget(ctx, 'masterfile', 500, (i) => masterfileInput(ctx, i), checkMasterfile);
}
