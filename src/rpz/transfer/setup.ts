/**
 * From the configuration (DESIGN.md: `rpz.zones[*].primary`, `tsig`,
 * `max_records`; `transfer.*`; `tsig_keys`) to the transfer objects. Kept
 * apart so the server wiring stays a few lines and config errors read the same
 * in `verdict check` and at start.
 */
import { resolve } from 'node:path';
import { parseEndpoint } from '../../config/endpoint.js';
import type { Config, RpzZoneConfig } from '../../config/schema.js';
import { nameFromText } from '../../dns/name.js';
import type { NotifyTarget } from './primary.js';
import { FileZoneStore } from './secondary.js';
import type { SecondaryZoneOptions } from './secondary.js';
import { TsigKeyring } from './tsig.js';
import type { TsigKey } from './tsig.js';

/** Every configured key; throws on a bad algorithm or secret, naming the key. */
export function keyringFromConfig(cfg: Config): TsigKeyring {
  return TsigKeyring.fromConfig(cfg.tsig_keys);
}

function fqdn(name: string): string {
  return name.endsWith('.') ? name : name + '.';
}

function keyNamed(ring: TsigKeyring, name: string, where: string): TsigKey {
  const k = ring.get(name);
  if (!k) throw new Error(`${where}: unknown TSIG key ${name}`);
  return k;
}

/**
 * Options for the `SecondaryZone` of a zone with `primary:`; add the
 * callbacks (onUpdate, onError, onExpired, onTransfer) before constructing.
 * `baseDir` anchors a relative `transfer.state_dir`.
 */
export function secondaryOptions(zone: RpzZoneConfig, cfg: Config, baseDir: string, ring = keyringFromConfig(cfg)): SecondaryZoneOptions {
  if (!zone.primary) throw new Error(`rpz zone ${zone.name} has no primary`);
  const name = nameFromText(fqdn(zone.name));
  const primary = parseEndpoint(zone.primary, 53);
  return {
    zone: name,
    primary: { address: primary.address, port: primary.port },
    ...(zone.tsig ? { tsig: keyNamed(ring, zone.tsig, `rpz zone ${zone.name}`) } : {}),
    ...(cfg.transfer.state_dir ? { store: new FileZoneStore(resolve(baseDir, cfg.transfer.state_dir), name) } : {}),
    ...(zone.max_records !== undefined ? { maxRecords: zone.max_records } : {}),
  };
}

/** `transfer.notify` as NOTIFY targets (port 53 unless given). */
export function notifyTargets(cfg: Config): NotifyTarget[] {
  return cfg.transfer.notify.map((n) => {
    const e = parseEndpoint(n, 53);
    return { address: e.address, port: e.port };
  });
}

/** The key AXFR/IXFR of served zones must carry (`transfer.tsig`), if any. */
export function transferKey(cfg: Config, ring = keyringFromConfig(cfg)): TsigKey | undefined {
  return cfg.transfer.tsig ? keyNamed(ring, cfg.transfer.tsig, 'transfer.tsig') : undefined;
}
