/**
 * Target (d): the order loader. parseOrder reports problems, never throws;
 * an order comes back exactly when there are no errors; every problem is located.
 */
import { parseOrder } from '../../src/rpz/orders/load.js';
import type { ParsedOrder } from '../../src/rpz/orders/load.js';
import { inputRng } from '../rng.js';
import { mutateText, YAML_TOKENS, yamlBomb } from '../text.js';
import { describe, syncTarget } from '../target.js';
import type { Target, TargetContext } from '../target.js';

export function ordersInput(ctx: TargetContext, index: number): string {
  const rng = inputRng(ctx.seed, index);
  const orders = ctx.corpus.orders;
  if (rng.chance(0.01)) return yamlBomb(rng);
  const base = rng.pick(orders);
  return rng.chance(0.03) ? base : mutateText(rng, base, rng.pick(orders), YAML_TOKENS);
}

export function checkOrder(text: string): { ok: boolean; rejected: boolean; problem?: string } {
  let r: ParsedOrder;
  try {
    r = parseOrder(text, 'fuzz.yaml');
  } catch (e) {
    return { ok: false, rejected: false, problem: `threw ${describe(e)}` };
  }
  if ((r.order !== undefined) !== (r.errors.length === 0)) return { ok: false, rejected: true, problem: `order ${r.order ? 'present' : 'absent'} with ${r.errors.length} errors` };
  for (const p of [...r.errors, ...r.warnings]) {
    if (!(p.line >= 0 && p.column >= 0 && Number.isInteger(p.line) && typeof p.message === 'string' && p.message.length > 0 && p.file === 'fuzz.yaml')) {
      return { ok: false, rejected: true, problem: `badly located problem ${JSON.stringify(p)}` };
    }
  }
  return { ok: true, rejected: r.errors.length > 0 };
}

export async function ordersTarget(ctx: TargetContext): Promise<Target> {
  return syncTarget(ctx, 'orders', 200, (i) => ordersInput(ctx, i), checkOrder);
}
