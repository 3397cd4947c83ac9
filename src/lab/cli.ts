/**
 * `verdict lab`: the simulated hierarchy on loopback, until SIGTERM/SIGINT.
 * `verdict demo`: the lab and a Verdict resolver against it, in one process.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';
import { Verdict } from '../resolver/verdict.js';
import { relative } from 'node:path';
import { labTable, rootHintsYaml, startLab } from './lab.js';
import { defaultKeysDir, labRootDs } from './signed.js';
import { parseEndpoint } from '../config/endpoint.js';
import { ensureDemoTls } from './demo-tls.js';
import type { DemoTls } from './demo-tls.js';

/** The dig lines for the demo's DoH and DoT listeners, verifying against the demo CA. */
function encryptedHints(server: { dot_listen: string[]; doh_listen: string[]; doh_path: string }, tls: DemoTls | undefined): string {
  if (!tls) return '';
  const ca = relative(process.cwd(), tls.ca) || tls.ca;
  const lines = [`  DoT/DoH with the demo CA ${ca}${tls.made ? ' (made now)' : ''}:\n`];
  for (const text of server.doh_listen) {
    const ep = parseEndpoint(text, 443);
    lines.push(`       dig @${ep.address} -p ${ep.port} +https${server.doh_path === '/dns-query' ? '' : `=${server.doh_path}`} +tls-ca=${ca} www.dpstream.tv\n`);
  }
  for (const text of server.dot_listen) {
    const ep = parseEndpoint(text, 853);
    lines.push(`       dig @${ep.address} -p ${ep.port} +tls +tls-ca=${ca} www.example.com\n`);
  }
  return lines.join('');
}

function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: string) => () => {
      process.off('SIGTERM', term);
      process.off('SIGINT', int);
      resolve(sig);
    };
    const term = on('SIGTERM');
    const int = on('SIGINT');
    process.once('SIGTERM', term);
    process.once('SIGINT', int);
  });
}

export async function lab(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { zones: { type: 'string' } } });
  const running = await startLab(values.zones ? { zonesDir: values.zones } : {});
  process.stdout.write(`# Verdict lab: ${running.servers.filter((s) => s.server).length} servers on port 53\n`);
  process.stdout.write(labTable(running));
  process.stdout.write(rootHintsYaml(running.rootHints));
  // The signed root's DS: what a validating resolver needs to trust the lab (config/demo.yaml uses it).
  process.stdout.write(`dnssec:\n  trust_anchor_file: ${relative(process.cwd(), `${defaultKeysDir()}root.ds`) || 'lab/keys/root.ds'}   # ${labRootDs().trim()}\n`);
  await untilSignal();
  await running.stop();
  return 0;
}

export async function demo(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } } });
  const file = values.config ?? 'config/demo.yaml';
  const loaded = loadConfig(file);
  const server = loaded.config.server;
  // DoT/DoH: the demo makes its own CA and certificate where server.tls says, once.
  const tls = server.tls && server.dot_listen.length + server.doh_listen.length > 0 ? ensureDemoTls(server.tls, loaded.baseDir) : undefined;
  const running = await startLab();
  let verdict: Verdict;
  try {
    // The config's root hints win; without them, the lab's root.
    verdict = new Verdict(loaded, loaded.config.resolver.root_hints || loaded.config.resolver.root_hints_file ? {} : { rootHints: running.rootHints });
    await verdict.start();
  } catch (e) {
    await running.stop();
    throw e;
  }
  const at = loaded.config.server.listen[0]!;
  const [host, port] = at.startsWith('[') ? [at.slice(1, at.indexOf(']')), at.slice(at.indexOf(']') + 2) || '53'] : [at.split(':')[0]!, at.split(':')[1] ?? '53'];
  process.stderr.write(`verdict demo: lab on 127.55.0.0/16, resolver on ${loaded.config.server.listen.join(' ')}\n` +
    `  try: dig @${host} -p ${port} www.example.com\n` +
    `       dig @${host} -p ${port} bigtxt.example.com TXT +bufsize=512 +ignore   (TC set)\n` +
    `       dig @${host} -p ${port} bigtxt.example.com TXT +tcp\n` + encryptedHints(server, tls));
  const reload = () => {
    try {
      verdict.reload(loadConfig(file));
    } catch (e) {
      verdict.logger.error({ err: (e as Error).message }, 'reload failed; the previous configuration keeps serving');
    }
  };
  process.on('SIGHUP', reload);
  const sig = await untilSignal();
  process.off('SIGHUP', reload);
  verdict.logger.info({ signal: sig }, 'draining');
  await verdict.stop();
  await running.stop();
  return 0;
}
