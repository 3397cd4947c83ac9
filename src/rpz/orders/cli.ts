/**
 * `verdict orders list | check | explain NAME | compile [-o OUT]`, each with
 * `-c FILE`. Reads the orders the config names, judges them by the order
 * clock (`orders.clock`, else now) and prints; nothing here touches a running server.
 */
import { writeFileAtomically } from '../../atomic-file.js';
import { resolve } from 'node:path';
import type { LoadedConfig } from '../../config/load.js';
import { compileOrdersZone } from './compile.js';
import { loadOrders } from './load.js';
import { checkOrders, explainName, listOrders } from './report.js';
import { orderClock } from './clock.js';
import { ipToBytes } from '../../resolver/acl.js';
import { observations } from '../../mirrors/cli.js';
import { gatherReport } from './transparency-sources.js';
import { transparencyHtml } from './transparency-html.js';
import type { TransparencyReport } from './transparency.js';

/** `verdict orders report` without --html/--json: the report's table as text. */
function reportSummary(r: TransparencyReport): string {
  const lines = [`Transparency report at ${r.generated_at} (${r.timezone}); blocked answers ${r.window.from} .. ${r.window.to} from ${r.counts_source}`];
  for (const o of r.orders) {
    const win = o.blocked_answers.per_day.reduce((n, d) => n + d.answers, 0);
    lines.push(`${o.id}  ${o.state}  ${o.effective_date} .. ${o.last_day}  ${o.names_count} name(s)  ${win} blocked in window, ${o.blocked_answers.total} in all  held ${o.held_entries.pending}${o.mirror_candidates !== null ? `  mirrors ${o.mirror_candidates}` : ''}`);
  }
  lines.push(`${r.orders.length} order(s) listed, ${r.totals.orders_in_force} in force; --html -o FILE for the page, --json for the data`);
  return lines.join('\n') + '\n';
}
import { automatedCommand } from './automated-cli.js';

export interface OrdersCliOptions {
  output?: string;
  json?: boolean;
  /** `explain --client ADDR`: judge for this client (scoped orders). */
  client?: string;
  /** `report --html`. */
  html?: boolean;
  /** `confirm` / `reject`: who decides (recorded in the audit log). */
  by?: string;
}

export interface CliOutput {
  stdout: string;
  stderr: string;
  code: number;
}

const USAGE = 'usage: verdict orders list|check|explain NAME [--client ADDR]|compile [-o OUT]|report [--html|--json] [-o OUT]|held|confirm ID NAME --by WHO|reject ID NAME --by WHO|impact FILE [-c FILE] [--json]\n';


export async function ordersCommand(loaded: LoadedConfig, args: string[], opts: OrdersCliOptions): Promise<CliOutput> {
  const cfg = loaded.config;
  const now = orderClock(cfg)();
  const [sub, ...rest] = args;
  // Automated entries and the running server's safeguards (issue 16): automated.ts.
  if (sub === 'held' || sub === 'confirm' || sub === 'reject' || sub === 'impact') return automatedCommand(loaded, sub, rest, opts, now);
  const result = await loadOrders(cfg.orders.files, loaded.baseDir, { timezone: cfg.orders.timezone, networks: cfg.orders.networks, now });
  const problems = checkOrders(result, now);
  const out = (stdout: string, code = 0, stderr = ''): CliOutput => ({ stdout, stderr, code });
  switch (sub) {
    case 'list': {
      const l = listOrders(result.orders, now);
      return out(opts.json ? JSON.stringify(l.rows, null, 2) + '\n' : l.text, 0, problems.errors || problems.warnings ? problems.text : '');
    }
    case 'check':
      return out(problems.text, problems.exitCode);
    case 'explain': {
      const name = rest[0];
      if (!name) return out('', 2, USAGE);
      if (opts.client !== undefined && !ipToBytes(opts.client)) return out('', 2, `--client ${JSON.stringify(opts.client)}: not an IPv4 or IPv6 address\n`);
      const e = explainName(name, result.orders, now, {
        zone: cfg.orders.zone,
        ...(cfg.orders.notice_host ? { noticeHost: cfg.orders.notice_host } : {}),
        ...(opts.client !== undefined ? { client: opts.client } : {}),
      });
      const { text, ...data } = e;
      return out(opts.json ? JSON.stringify(data, null, 2) + '\n' : text);
    }
    case 'compile': {
      if (result.errors.length) return out('', 1, problems.text + 'not compiled: fix the errors above\n');
      const z = compileOrdersZone(result.orders, {
        zone: cfg.orders.zone,
        now,
        ...(cfg.orders.notice_host ? { noticeHost: cfg.orders.notice_host } : {}),
        ...(cfg.orders.notice_addresses.length ? { noticeAddresses: cfg.orders.notice_addresses } : {}),
        ...(cfg.orders.serial_file ? { stateFile: resolve(loaded.baseDir, cfg.orders.serial_file) } : {}),
      });
      const summary = `${cfg.orders.zone}: serial ${z.serial}, ${z.entries.length} rule(s) from ${z.orders.length} order(s) in force at ${now.toISOString()}\n`
        + z.problems.map((p) => `warning: ${p}\n`).join('');
      if (!opts.output) return out(z.text, 0, summary);
      writeFileAtomically(opts.output, z.text);
      return out('', 0, `${summary}written to ${opts.output}\n`);
    }
    case 'report': {
      // Files only: the orders, the audit log's counts and held entries, the mirror watch's saved state.
      if (opts.html && opts.json) return out('', 2, 'give --html or --json, not both\n');
      if (result.errors.length) return out('', 1, problems.text + 'no report: fix the errors above\n');
      const mirrors = cfg.mirrors.enabled ? (await observations(loaded, result.orders, now)).snapshot : undefined;
      const report = await gatherReport({ config: cfg, baseDir: loaded.baseDir, orders: result.orders, now, ...(mirrors ? { mirrors } : {}) });
      const text = opts.html ? transparencyHtml(report) : opts.json ? JSON.stringify(report, null, 2) + '\n' : reportSummary(report);
      const summary = `transparency report at ${report.generated_at}: ${report.orders.length} order(s) listed, ${report.totals.orders_in_force} in force, ${report.totals.blocked_answers_in_window} blocked answer(s) ${report.window.from} .. ${report.window.to} (${report.counts_source})\n`;
      if (!opts.output) return out(text, 0, opts.html || opts.json ? summary : '');
      writeFileAtomically(opts.output, text);
      return out('', 0, `${summary}written to ${opts.output}\n`);
    }
    default:
      return out('', 2, USAGE);
  }
}
