/**
 * Live feeds (issue 16): an RPZ zone a primary serves (AXFR/IXFR, NOTIFY),
 * whose every rule is an entry bound to a parent court order. The feed's own
 * actions are not used: an entry blocks as its parent orders (the action and
 * subdomain coverage of the judgment), is enforced only while the parent is,
 * and passes the safeguards like a regulator request. Exceptions in the feed
 * (`CNAME rpz-passthru.`) and triggers other than QNAME and response IP
 * (client IP, NS name, NS IP) are not entries and are counted as skipped.
 */
import { createHash } from 'node:crypto';
import { Type } from '../../dns/constants.js';
import type { Record } from '../../dns/message.js';
import { nameFromText, nameToText } from '../../dns/name.js';
import { cidrFromRpzIp } from './request.js';
import { normalizeDomainName } from './schema.js';
import type { Order } from './schema.js';

export interface FeedEntries {
  serial: number;
  names: string[];
  addresses: string[];
  /** Rules that are not entries (exceptions, other triggers, bad names). */
  skipped: number;
}

export interface FeedConfig {
  id: string;
  zone: string;
  primary: string;
  parent: string;
  authority: string;
  reference?: string;
}

/** The entries of a transferred feed zone (SOA first, as SecondaryZone hands them over). */
export function feedEntries(zone: string, records: readonly Record[], serial: number): FeedEntries {
  const origin = nameToText(nameFromText(zone.endsWith('.') ? zone : `${zone}.`)).toLowerCase();
  const names = new Set<string>();
  const addresses = new Set<string>();
  const owners = new Set<string>();
  let skipped = 0;
  const passthru = new Set<string>();
  for (const r of records) {
    if (r.type === Type.SOA || r.type === Type.NS || r.type === Type.RRSIG || r.type === Type.NSEC || r.type === Type.DNSKEY) continue;
    const owner = nameToText(r.name).toLowerCase();
    if (!owner.endsWith(`.${origin}`)) continue;
    const rel = owner.slice(0, -(origin.length + 1));
    if (r.type === Type.CNAME && nameToText(r.rdata as never).toLowerCase() === 'rpz-passthru.') passthru.add(rel);
    owners.add(rel);
  }
  for (const rel of owners) {
    if (passthru.has(rel)) { skipped++; continue; }
    if (rel.endsWith('.rpz-ip')) {
      const c = cidrFromRpzIp(rel.slice(0, -'.rpz-ip'.length));
      if (c) addresses.add(c);
      else skipped++;
      continue;
    }
    if (/(^|\.)rpz-(client-ip|nsdname|nsip)$/.test(rel)) { skipped++; continue; }
    const n = normalizeDomainName(rel.startsWith('*.') ? rel.slice(2) : rel);
    if ('error' in n) { skipped++; continue; }
    names.add(n.name);
  }
  return { serial, names: [...names].sort(), addresses: [...addresses].sort(), skipped };
}

/** A feed's entries as an order bound to its parent (dates, action and coverage the parent's). */
export function feedOrder(cfg: FeedConfig, entries: FeedEntries, parent: Order, today: string): Order {
  return {
    kind: 'feed',
    id: cfg.id,
    file: `feed ${cfg.zone} from ${cfg.primary} (serial ${entries.serial})`,
    sha256: createHash('sha256').update(JSON.stringify([entries.names, entries.addresses])).digest('hex'),
    court: cfg.authority,
    authority: cfg.authority,
    decisionDate: today,
    reference: cfg.reference ?? `${cfg.zone} serial ${entries.serial}`,
    parties: parent.parties,
    timezone: parent.timezone,
    effectiveDate: parent.effectiveDate,
    activeFrom: parent.activeFrom,
    lastDay: parent.lastDay,
    expiresAt: parent.expiresAt,
    status: 'active',
    history: [],
    action: parent.action,
    includeSubdomains: parent.includeSubdomains,
    names: entries.names,
    addresses: entries.addresses,
    parent: parent.id,
    parentOrder: parent,
    // A feed reaches the clients its order does (issue 17's scope), and is published as its order is.
    ...(parent.scope ? { scope: parent.scope } : {}),
    publishNames: parent.publishNames,
    example: parent.example,
    source: { id: { line: 0, column: 0 }, names: new Map() },
  };
}
