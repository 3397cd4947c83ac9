/**
 * `verdict orders list | check | explain NAME | compile [-o OUT]`, each with
 * `-c FILE`. Reads the orders the config names, judges them by the order
 * clock (`orders.clock`, else now) and prints; nothing here touches a running server.
 */
import { writeFileSync, renameSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { LoadedConfig } from '../../config/load.js';
import { compileOrdersZone } from './compile.js';
import { loadOrders } from './load.js';
import { checkOrders, explainName, listOrders } from './report.js';
import { orderClock } from './clock.js';
import { automatedCommand } from './automated-cli.js';

export interface OrdersCliOptions {
  output?: string;
  json?: boolean;
  /** `confirm` / `reject`: who decides (recorded in the audit log). */
  by?: string;
}

export interface CliOutput {
  stdout: string;
  stderr: string;
  code: number;
}

const USAGE = 'usage: verdict orders list|check|explain NAME|compile [-o OUT]|held|confirm ID NAME --by WHO|reject ID NAME --by WHO|impact FILE [-c FILE] [--json]\n';

export async function ordersCommand(loaded: LoadedConfig, args: string[], opts: OrdersCliOptions): Promise<CliOutput> {
  const cfg = loaded.config;
  const now = orderClock(cfg)();
  const [sub, ...rest] = args;
  // Automated entries and the running server's safeguards (issue 16): automated.ts.
  if (sub === 'held' || sub === 'confirm' || sub === 'reject' || sub === 'impact') return automatedCommand(loaded, sub, rest, opts, now);
  const result = await loadOrders(cfg.orders.files, loaded.baseDir, { timezone: cfg.orders.timezone, now });
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
      const e = explainName(name, result.orders, now, { zone: cfg.orders.zone, ...(cfg.orders.notice_host ? { noticeHost: cfg.orders.notice_host } : {}) });
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
      // Write beside the target and rename: a reader (named, a file watcher) never sees half a zone.
      const target = resolve(opts.output);
      const tmp = resolve(dirname(target), `.${Date.now()}.${process.pid}.tmp`);
      writeFileSync(tmp, z.text);
      renameSync(tmp, target);
      return out('', 0, `${summary}written to ${opts.output}\n`);
    }
    default:
      return out('', 2, USAGE);
  }
}
