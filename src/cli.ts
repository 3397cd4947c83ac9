#!/usr/bin/env node
/**
 * verdict serve | check | orders … | lab | demo
 * The command line is a contract (DESIGN.md): extend it, never rename.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config/load.js';
import { resolve } from 'node:path';
import { controlRequest } from './control/client.js';
import { Verdict } from './resolver/verdict.js';
import { isClusterWorker, runPrimary, runWorker } from './resolver/cluster.js';
import { demo, lab } from './lab/cli.js';
import { ordersCommand } from './rpz/orders/cli.js';
import { checkPolicy } from './rpz/manager.js';
import { mirrorsCommand } from './mirrors/cli.js';

const USAGE = `usage: verdict <command> [options]

commands:
  serve -c FILE        run the resolver (SIGHUP reloads, SIGTERM drains and exits)
  check -c FILE        validate the config, RPZ zones and orders; exit 1 with file:line errors
  ctl COMMAND [ARG]    control a running server: status | reload | flush [NAME] | zones | transfer ZONE
  orders list          the court orders, their state today and days left (--json)
  orders check         validate the order files; exit 1 with file:line errors
  orders explain NAME  which orders cover NAME and whether it is blocked now, and why
  orders compile [-o OUT]  the standard RPZ zone the orders compile into (stdout by default)
  mirrors report       candidate mirrors of blocked sites seen by the server, with evidence (--json)
  mirrors draft --order ID [-o OUT] [NAMES]  an amendment order file (status draft, never enforced)
  lab                  start the simulated DNS hierarchy on loopback and print its root hints
  demo                 start the lab and Verdict against it (config/demo.yaml)

options:
  -c, --config FILE    configuration file (default config/verdict.yaml)
  -h, --help           this help
`;

type Command = (args: string[]) => Promise<number>;

function configArg(args: string[]): { file: string; rest: string[]; values: Record<string, unknown> } {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { config: { type: 'string', short: 'c' }, output: { type: 'string', short: 'o' }, json: { type: 'boolean' }, order: { type: 'string' } },
  });
  return { file: (values.config as string | undefined) ?? 'config/verdict.yaml', rest: positionals, values };
}

async function serve(args: string[]): Promise<number> {
  const { file } = configArg(args);
  // server.workers > 1: this process is the cluster primary, or one of its workers (src/resolver/cluster.ts).
  if (isClusterWorker()) return runWorker(file);
  const loaded = loadConfig(file);
  if (loaded.config.server.workers > 1) return runPrimary(file, loaded);
  const verdict = new Verdict(loaded);
  await verdict.start();
  return new Promise<number>((resolve) => {
    const shutdown = (sig: string) => {
      verdict.logger.info({ signal: sig }, 'draining');
      verdict.stop().then(() => resolve(0), () => resolve(1));
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.on('SIGHUP', () => {
      const failed = (e: unknown) => verdict.logger.error({ err: (e as Error).message }, 'reload failed; the previous configuration keeps serving');
      try {
        verdict.reload(loadConfig(file)).catch(failed);
      } catch (e) {
        failed(e);
      }
    });
  });
}

async function check(args: string[]): Promise<number> {
  const { file } = configArg(args);
  const report = await checkPolicy(loadConfig(file));
  for (const line of report.lines) process.stdout.write(line + '\n');
  for (const line of report.errors) process.stderr.write(line + '\n');
  if (report.errors.length) return 1;
  process.stdout.write(`${file}: ok\n`);
  return 0;
}

async function ctl(args: string[]): Promise<number> {
  const { file, rest } = configArg(args);
  const [command, ...cargs] = rest;
  if (!command) {
    process.stderr.write('usage: verdict ctl status|reload|flush [NAME]|zones|transfer ZONE [-c FILE]\n');
    return 2;
  }
  const loaded = loadConfig(file);
  const socket = resolve(loaded.baseDir, loaded.config.control.socket);
  const r = await controlRequest(socket, command, cargs);
  process.stdout.write(JSON.stringify(r.body, null, 2) + '\n');
  return r.status === 200 ? 0 : 1;
}

async function orders(args: string[]): Promise<number> {
  const { file, rest, values } = configArg(args);
  const r = await ordersCommand(loadConfig(file), rest, {
    ...(values.output ? { output: values.output as string } : {}),
    json: values.json === true,
  });
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  return r.code;
}

async function mirrors(args: string[]): Promise<number> {
  const { file, rest, values } = configArg(args);
  const r = await mirrorsCommand(loadConfig(file), rest, {
    json: values.json === true,
    ...(values.order ? { order: values.order as string } : {}),
    ...(values.output ? { output: values.output as string } : {}),
  });
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  return r.code;
}

const commands: Record<string, Command> = { serve, check, ctl, orders, mirrors, lab, demo };

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    process.stdout.write(USAGE);
    return cmd ? 0 : 2;
  }
  const run = commands[cmd];
  if (!run) {
    process.stderr.write(`verdict: unknown command ${JSON.stringify(cmd)}\n${USAGE}`);
    return 2;
  }
  return run(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: Error) => {
    if (e instanceof ConfigError) process.stderr.write(`${e.message}\n`);
    else process.stderr.write(`verdict: ${e.message}\n`);
    process.exit(1);
  },
);
