#!/usr/bin/env node
/**
 * verdict serve | check | orders … | lab | demo
 * The command line is a contract (DESIGN.md): extend it, never rename.
 *
 * Each command imports what it needs when it runs (config, resolver, lab,
 * orders, mirrors), so that `serve` neither loads nor keeps in memory the
 * modules only the other commands use, and so that the young-generation cap
 * below is in place before the heavy modules load.
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { capYoungGeneration } from './resolver/young-generation.js';

// `serve` is a long-running server: V8's young generation is capped at 4 MiB
// a semi-space instead of 16 (20 MiB less RSS, no measurable cost; see
// young-generation.ts). Set before any other module loads: loading them alone
// grew it to 8 MiB a semi-space before `serve` ran.
const youngGeneration = process.argv[2] === 'serve' ? capYoungGeneration() : undefined;

const USAGE = `usage: verdict <command> [options]

commands:
  serve -c FILE        run the resolver (SIGHUP reloads, SIGTERM drains and exits)
  check -c FILE        validate the config, RPZ zones and orders; exit 1 with file:line errors
  ctl COMMAND [ARG]    control a running server: status | reload | flush [NAME] | zones | transfer ZONE | nta list|add|remove NAME
  orders list          the court orders, their state today and days left (--json)
  orders check         validate the order files; exit 1 with file:line errors
  orders explain NAME  which orders cover NAME and whether it is blocked now, and why
  orders compile [-o OUT]  the standard RPZ zone the orders compile into (stdout by default)
  orders explain NAME --client ADDR  the same, for one client (orders with applies_to / except)
  orders report [--html|--json] [-o OUT]  the transparency report (docs/TRANSPARENCY.md)
  orders held          entries of regulator requests and feeds held by the safeguards (running server)
  orders confirm|reject ID NAME --by WHO  enforce or drop a held entry (audit-logged)
  orders impact FILE   what an order or request file would block, over the server's last 24 h of traffic
  mirrors report       candidate mirrors of blocked sites seen by the server, with evidence (--json)
  mirrors draft --order ID [-o OUT] [NAMES]  an amendment order file (status draft, never enforced)
  mirrors draft --order ID --request [--authority NAME]  a regulator request under the order instead
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
    options: {
      config: { type: 'string', short: 'c' }, output: { type: 'string', short: 'o' }, json: { type: 'boolean' }, order: { type: 'string' },
      client: { type: 'string' }, html: { type: 'boolean' }, by: { type: 'string' }, request: { type: 'boolean' }, authority: { type: 'string' },
    },
  });
  return { file: (values.config as string | undefined) ?? 'config/verdict.yaml', rest: positionals, values };
}

async function serve(args: string[]): Promise<number> {
  const { file } = configArg(args);
  const { loadConfig } = await import('./config/load.js');
  // cluster.js loads the resolver (verdict.js) too.
  const { isClusterWorker, runPrimary, runWorker } = await import('./resolver/cluster.js');
  const { Verdict } = await import('./resolver/verdict.js');
  // Every module is loaded: from here on the work comes in short turns of the
  // event loop (a zone loads in slices), where the cap can follow the growth.
  youngGeneration?.allowGrowth();
  // server.workers > 1: this process is the cluster primary, or one of its workers (src/resolver/cluster.ts).
  if (isClusterWorker()) return runWorker(file);
  const loaded = loadConfig(file);
  if (loaded.config.server.workers > 1) return runPrimary(file, loaded);
  const verdict = new Verdict(loaded);
  // Signals count from the start: a SIGTERM while the policy loads answers the
  // held queries (SERVFAIL, EDE 14), finishes in-flight TCP answers and exits 0.
  let stopping = false;
  let onStopped!: (code: number) => void;
  const stopped = new Promise<number>((r) => (onStopped = r));
  const shutdown = (sig: string) => {
    if (stopping) return;
    stopping = true;
    verdict.logger.info({ signal: sig }, 'draining');
    verdict.stop().then(() => onStopped(0), () => onStopped(1));
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  try {
    await verdict.start();
  } catch (e) {
    if (stopping) return stopped; // the load was cut short by the stop itself
    throw e;
  }
  if (stopping) return stopped;
  return new Promise<number>((resolve) => {
    stopped.then(resolve, () => resolve(1));
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
  const { loadConfig } = await import('./config/load.js');
  const { checkPolicy } = await import('./rpz/manager.js');
  const { checkDnssecConfig } = await import('./dnssec/cli-check.js');
  const { checkTlsConfig } = await import('./resolver/encrypted/certs.js');
  const loaded = loadConfig(file);
  const report = await checkPolicy(loaded);
  const dnssec = checkDnssecConfig(loaded);
  const { checkRoutes } = await import('./resolver/routes.js');
  const routes = checkRoutes(loaded.config, loaded.baseDir, loaded.file);
  const tls = checkTlsConfig(loaded.config.server.tls, loaded.baseDir);
  for (const line of [...report.lines, ...dnssec.lines, ...routes.lines, ...tls.lines]) process.stdout.write(line + '\n');
  for (const line of [...report.errors, ...dnssec.errors, ...routes.errors, ...tls.errors]) process.stderr.write(line + '\n');
  if (report.errors.length || dnssec.errors.length || routes.errors.length || tls.errors.length) return 1;
  process.stdout.write(`${file}: ok\n`);
  return 0;
}

async function ctl(args: string[]): Promise<number> {
  const { file, rest } = configArg(args);
  const [command, ...cargs] = rest;
  if (!command) {
    process.stderr.write('usage: verdict ctl status|reload|flush [NAME]|zones|transfer ZONE|nta list|add NAME|remove NAME [-c FILE]\n');
    return 2;
  }
  const { loadConfig } = await import('./config/load.js');
  const { controlRequest } = await import('./control/client.js');
  const loaded = loadConfig(file);
  const socket = resolve(loaded.baseDir, loaded.config.control.socket);
  const r = await controlRequest(socket, command, cargs);
  process.stdout.write(JSON.stringify(r.body, null, 2) + '\n');
  return r.status === 200 ? 0 : 1;
}

async function orders(args: string[]): Promise<number> {
  const { file, rest, values } = configArg(args);
  const { loadConfig } = await import('./config/load.js');
  const { ordersCommand } = await import('./rpz/orders/cli.js');
  const r = await ordersCommand(loadConfig(file), rest, {
    ...(values.output ? { output: values.output as string } : {}),
    ...(values.by !== undefined ? { by: values.by as string } : {}),
    json: values.json === true,
    ...(values.client !== undefined ? { client: values.client as string } : {}),
    html: values.html === true,
  });
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  return r.code;
}

async function mirrors(args: string[]): Promise<number> {
  const { file, rest, values } = configArg(args);
  const { loadConfig } = await import('./config/load.js');
  const { mirrorsCommand } = await import('./mirrors/cli.js');
  const r = await mirrorsCommand(loadConfig(file), rest, {
    json: values.json === true,
    ...(values.order ? { order: values.order as string } : {}),
    ...(values.output ? { output: values.output as string } : {}),
    ...(values.request ? { request: true } : {}),
    ...(values.authority ? { authority: values.authority as string } : {}),
  });
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  return r.code;
}

const lab: Command = async (args) => (await import('./lab/cli.js')).lab(args);
const demo: Command = async (args) => (await import('./lab/cli.js')).demo(args);

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
  async (e: Error) => {
    const ConfigError = await import('./config/load.js').then((m) => m.ConfigError, () => undefined);
    if (ConfigError && e instanceof ConfigError) process.stderr.write(`${e.message}\n`);
    else process.stderr.write(`verdict: ${e.message}\n`);
    process.exit(1);
  },
);
