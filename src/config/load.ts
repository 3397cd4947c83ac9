/** YAML -> one validated, typed Config; every error names file, line and key. */
import { resolve } from 'node:path';
import { isMap, isNode, isScalar, LineCounter, parseDocument } from 'yaml';
import type { Document } from 'yaml';
import { configSchema } from './schema.js';
import type { Config } from './schema.js';
import { parseEndpoint } from './endpoint.js';
import { parseCidr } from '../resolver/acl.js';
import { MIB, nestingProblem, readTextBounded, toJSBounded, YamlLimitError } from './yaml-limits.js';

/** A configuration is a page or two; a file far bigger is a mistake (or an attack), refused unread. */
export const MAX_CONFIG_BYTES = MIB;

export class ConfigError extends Error {
  readonly code = 'VERDICT_ERR_CONFIG';
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

export interface LoadedConfig {
  config: Config;
  file: string;
  /**
   * Directory that relative paths in the config are resolved against: the
   * working directory at load time, as in DESIGN.md's examples
   * (`file: config/rpz/local.rpz` next to `-c config/verdict.yaml`).
   */
  baseDir: string;
}

/** Position of the YAML node at `path`, as "file:line:col". */
function where(doc: Document, lc: LineCounter, file: string, path: readonly PropertyKey[]): string {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n) as unknown[], true);
    if (isNode(node) && node.range) {
      const p = lc.linePos(node.range[0]);
      return `${file}:${p.line}:${p.col}`;
    }
  }
  return `${file}:1:1`;
}

/** Position of the key `key` inside the mapping at `path`. */
function whereKey(doc: Document, lc: LineCounter, file: string, path: readonly PropertyKey[], key: string): string {
  const map = doc.getIn(path as unknown[], true);
  if (isMap(map)) {
    const pair = map.items.find((p) => isScalar(p.key) && p.key.value === key);
    if (pair && isScalar(pair.key) && pair.key.range) {
      const p = lc.linePos(pair.key.range[0]);
      return `${file}:${p.line}:${p.col}`;
    }
  }
  return where(doc, lc, file, path);
}

export function parseConfigText(text: string, file: string): Config {
  if (Buffer.byteLength(text) > MAX_CONFIG_BYTES) throw new ConfigError([`${file}: larger than ${MAX_CONFIG_BYTES / MIB} MiB, the most a configuration may hold; refused`]);
  const deep = nestingProblem(text, file);
  if (deep) throw new ConfigError([deep.message]);
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const problems: string[] = [];
  for (const e of doc.errors) {
    const p = lc.linePos(e.pos[0]);
    problems.push(`${file}:${p.line}:${p.col}: ${e.message.split('\n')[0]}`);
  }
  if (problems.length) throw new ConfigError(problems);
  let data: unknown;
  try {
    data = toJSBounded(doc, lc, file);
  } catch (e) {
    throw new ConfigError([(e as Error).message]);
  }
  const parsed = configSchema.safeParse(data ?? {});
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const k of issue.keys) problems.push(`${whereKey(doc, lc, file, issue.path, k)}: ${[...issue.path, k].join('.')}: unknown key`);
        continue;
      }
      const key = issue.path.map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`)).join('').replace(/^\./, '');
      problems.push(`${where(doc, lc, file, issue.path)}: ${key || '(top level)'}: ${issue.message}`);
    }
    throw new ConfigError(problems);
  }
  const config = parsed.data;
  const semantic = (path: PropertyKey[], msg: string) => problems.push(`${where(doc, lc, file, path)}: ${path.join('.')}: ${msg}`);
  config.server.listen.forEach((l, i) => { try { parseEndpoint(l, 53); } catch (e) { semantic(['server', 'listen', i], (e as Error).message); } });
  config.server.allow.forEach((c, i) => { try { parseCidr(c); } catch (e) { semantic(['server', 'allow', i], (e as Error).message); } });
  config.rpz.zones.forEach((z, i) => {
    if (z.file && z.primary) semantic(['rpz', 'zones', i], 'a zone takes either file or primary, not both');
    if (z.tsig && !config.tsig_keys[z.tsig]) semantic(['rpz', 'zones', i, 'tsig'], `unknown key ${z.tsig}`);
    if (!z.file && !z.primary && z.name !== config.orders.zone) semantic(['rpz', 'zones', i], `zone ${z.name} needs file or primary (or must be the orders zone ${config.orders.zone})`);
  });
  const names = config.rpz.zones.map((z) => z.name.toLowerCase().replace(/\.$/, ''));
  names.forEach((n, i) => { if (names.indexOf(n) !== i) semantic(['rpz', 'zones', i, 'name'], `zone ${n} listed twice`); });
  if (problems.length) throw new ConfigError(problems);
  return config;
}

export function loadConfig(file: string): LoadedConfig {
  let text: string;
  try {
    text = readTextBounded(file, MAX_CONFIG_BYTES);
  } catch (e) {
    throw new ConfigError([e instanceof YamlLimitError ? e.message : `${file}: cannot read: ${(e as Error).message}`]);
  }
  const abs = resolve(file);
  return { config: parseConfigText(text, file), file: abs, baseDir: process.cwd() };
}
