/**
 * `verdict orders held | confirm ID NAME --by WHO | reject ID NAME --by WHO |
 * impact FILE`: the safeguards of a running server, through its control
 * socket. `held` reads the server's state file when no server answers, so
 * the held entries can be listed from a stopped resolver too.
 */
import { existsSync, readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import type { LoadedConfig } from '../../config/load.js';
import { controlRequest } from '../../control/client.js';
import { checkOrderSet, formatProblem, loadOrders, parseOrder } from './load.js';
import type { Decision, Impact } from './safeguards.js';
import { chainLabel, isAutomated } from './schema.js';
import { orderState } from './state.js';

interface CliOutput {
  stdout: string;
  stderr: string;
  code: number;
}

const out = (stdout: string, code = 0, stderr = ''): CliOutput => ({ stdout, stderr, code });

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}

async function ask(loaded: LoadedConfig, command: string, args: string[], body?: unknown): Promise<{ status: number; body: unknown }> {
  const cfg = loaded.config;
  if (!cfg.control.enabled) throw new Error('the control socket is disabled (control.enabled: false)');
  const socket = resolve(loaded.baseDir, cfg.control.socket);
  if (!existsSync(socket)) throw new Error(`no server answers on ${socket} (is \`verdict serve -c ${loaded.file}\` running?)`);
  return controlRequest(socket, command, args, undefined, body);
}

const errorOf = (b: unknown) => (typeof b === 'object' && b !== null && 'error' in b ? String((b as { error: unknown }).error) : JSON.stringify(b));

function heldText(held: Decision[], source: string): string {
  if (held.length === 0) return `no held entries (${source})\n`;
  return table(['ORDER', 'NAME', 'SINCE', 'WHY HELD'], held.map((d) => [d.order, d.entry, d.since, d.reason ?? '']))
    + `${held.length} held entr${held.length === 1 ? 'y' : 'ies'} (${source}); enforce with \`verdict orders confirm ID NAME --by WHO\`, drop with \`verdict orders reject ID NAME --by WHO\`\n`;
}

export async function automatedCommand(loaded: LoadedConfig, sub: 'held' | 'confirm' | 'reject' | 'impact', rest: string[], opts: { json?: boolean; by?: string }, now: Date): Promise<CliOutput> {
  const cfg = loaded.config;
  if (sub === 'held') {
    try {
      const r = await ask(loaded, 'orders-held', []);
      if (r.status !== 200) return out('', 1, `verdict orders held: ${errorOf(r.body)}\n`);
      const held = (r.body as { held: Decision[] }).held;
      return out(opts.json ? JSON.stringify(held, null, 2) + '\n' : heldText(held, 'from the running server'));
    } catch (e) {
      // No server: what it saved last.
      const file = resolve(loaded.baseDir, cfg.orders.safeguards.state_file);
      let held: Decision[] = [];
      if (existsSync(file)) {
        try {
          held = ((JSON.parse(readFileSync(file, 'utf8')) as { decisions?: Decision[] }).decisions ?? []).filter((d) => d.status === 'held');
        } catch (err) {
          return out('', 1, `verdict orders held: ${file}: ${(err as Error).message}\n`);
        }
      }
      return out(opts.json ? JSON.stringify(held, null, 2) + '\n' : heldText(held, `from ${file}; ${(e as Error).message}`));
    }
  }
  if (sub === 'confirm' || sub === 'reject') {
    const [id, name] = rest;
    if (!id || !name || rest.length > 2) return out('', 2, `usage: verdict orders ${sub} ID NAME --by WHO [-c FILE]\n`);
    if (!opts.by?.trim()) return out('', 2, `verdict orders ${sub}: say who decides with --by WHO (recorded in the audit log)\n`);
    try {
      const r = await ask(loaded, sub === 'confirm' ? 'orders-confirm' : 'orders-reject', [id, name, opts.by]);
      if (r.status !== 200) return out('', 1, `verdict orders ${sub}: ${errorOf(r.body)}\n`);
      const d = (r.body as { decision: Decision }).decision;
      return out(opts.json ? JSON.stringify(d, null, 2) + '\n'
        : `${d.entry} of ${d.order}: ${d.status} by ${d.by} at ${d.at}; ${d.status === 'confirmed' ? 'enforced now' : 'not enforced'}\n`);
    } catch (e) {
      return out('', 1, `verdict orders ${sub}: ${(e as Error).message}\n`);
    }
  }
  // impact FILE
  const [file] = rest;
  if (!file || rest.length > 1) return out('', 2, 'usage: verdict orders impact FILE [-c FILE] [--json]\n');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return out('', 1, `verdict orders impact: cannot read ${file}: ${(e as Error).message}\n`);
  }
  const parsed = parseOrder(text, file, { timezone: cfg.orders.timezone });
  if (!parsed.order) return out('', 1, parsed.errors.map(formatProblem).join('\n') + '\n');
  // Bind a request to the configured orders (the file itself may be one of them).
  const loadedOrders = await loadOrders(cfg.orders.files, loaded.baseDir, { timezone: cfg.orders.timezone, networks: cfg.orders.networks, now });
  const self = relative(loaded.baseDir, resolve(file));
  const set = checkOrderSet([...loadedOrders.orders.filter((o) => o.id !== parsed.order!.id && o.file !== self), parsed.order], now);
  const order = set.orders.find((o) => o.id === parsed.order!.id);
  const problems = set.errors.filter((e) => e.orders?.includes(parsed.order!.id)).map(formatProblem);
  const subject = order ?? parsed.order;
  const entries = [
    ...subject.names.map((n) => ({ name: n, subdomains: subject.includeSubdomains })),
    ...(subject.addresses ?? []).map((a) => ({ address: a, subdomains: false })),
  ];
  let impact: Impact[];
  try {
    const r = await ask(loaded, 'orders-impact', [], { entries });
    if (r.status !== 200) return out('', 1, `verdict orders impact: ${errorOf(r.body)}\n`);
    impact = (r.body as { impact: Impact[] }).impact;
  } catch (e) {
    return out('', 1, `verdict orders impact: needs the running server's traffic statistics: ${(e as Error).message}\n`);
  }
  const automated = isAutomated(subject);
  const state = order ? orderState(order, now).state : 'refused';
  const data = {
    file, id: subject.id, chain: chainLabel(subject), automated, state, problems,
    entries: impact.map((i) => ({ ...i, verdict: i.reasons.length ? (automated ? 'held' : 'enforced as written; reported') : 'enforced' })),
    totals: {
      entries: impact.length,
      queries: impact.reduce((a, i) => a + i.queries, 0),
      held: automated ? impact.filter((i) => i.reasons.length).length : 0,
      protected: impact.filter((i) => i.protectedBy).length,
    },
  };
  if (opts.json) return out(JSON.stringify(data, null, 2) + '\n', 0, problems.map((p) => p + '\n').join(''));
  const lines = [
    `${file}: ${data.chain}${automated ? '' : ' (loaded by a person: enforced as written, findings reported)'}`,
    `state now: ${state}${problems.length ? ` (refused: ${problems.join('; ')})` : ''}`,
    `what it would block, over the traffic this server saw in the last 24 hours (clients are counted, never listed):`,
    table(['ENTRY', 'QUERIES', 'CLIENTS', 'SHARED', 'PROTECTED', 'VERDICT'], data.entries.map((e) => [
      e.entry, String(e.queries), e.clients ? `~${e.clients}` : '0', String(e.sharedNames), e.protectedBy ?? '-',
      e.verdict + (e.reasons.length ? `: ${e.reasons.join('; ')}` : ''),
    ])).trimEnd(),
    ...data.entries.filter((e) => e.sharedNames).map((e) => `  ${e.entry} shares addresses (${e.addresses.join(', ') || e.entry}) with: ${e.sharedExamples.join(', ')}${e.sharedNames > e.sharedExamples.length ? ', ...' : ''}`),
    `${data.totals.entries} entr${data.totals.entries === 1 ? 'y' : 'ies'}, ${data.totals.queries} queries, ${data.totals.protected} on the protected list${automated ? `, ${data.totals.held} would be held` : ''}`,
  ];
  return out(lines.join('\n') + '\n');
}
