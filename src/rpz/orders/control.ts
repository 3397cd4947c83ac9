/**
 * Control-socket commands for automated entries (issue 16), used by
 * `verdict orders held | confirm | reject | impact` against a running server.
 */
import type { ControlHandler } from '../../control/server.js';
import type { PolicyManager } from '../manager.js';

export interface ImpactRequest {
  entries: { name?: string; address?: string; subdomains: boolean }[];
}

function isImpactRequest(b: unknown): b is ImpactRequest {
  const e = (b as { entries?: unknown } | undefined)?.entries;
  return Array.isArray(e) && e.length <= 100_000 && e.every((x) => typeof x === 'object' && x !== null
    && (typeof x.name === 'string' || typeof x.address === 'string') && typeof x.subdomains === 'boolean');
}

export function ordersControlHandlers(policy: PolicyManager): { [command: string]: ControlHandler } {
  const decide = (status: 'confirmed' | 'rejected') => async (args: string[]) => {
    const [order, name, by] = args;
    if (!order || !name || !by) throw new Error(`usage: orders-${status === 'confirmed' ? 'confirm' : 'reject'} ID NAME WHO`);
    return { decision: await policy.decide(order, name, status, by) };
  };
  return {
    'orders-held': () => ({ held: policy.heldEntries() }),
    'orders-confirm': decide('confirmed'),
    'orders-reject': decide('rejected'),
    'orders-impact': (_args, body) => {
      if (!isImpactRequest(body)) throw new Error('orders-impact: expected a JSON body { entries: [{ name | address, subdomains }] }');
      return { impact: policy.impact(body.entries) };
    },
  };
}
