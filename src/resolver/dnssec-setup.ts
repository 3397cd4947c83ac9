/**
 * DNSSEC as the config describes it: trust anchors (built-in IANA root anchors,
 * or dnssec.trust_anchor_file), negative trust anchors, RFC 5011 tracking of
 * the root key, and the validator the iterator consults. Metrics and log lines
 * for its verdicts.
 */
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.js';
import { nameFromText, nameToText, ROOT } from '../dns/name.js';
import type { Name } from '../dns/name.js';
import { IANA_ROOT_ANCHORS, loadTrustAnchorFiles, TrustAnchorStore } from '../dnssec/anchors.js';
import { ntaControlHandlers } from '../dnssec/control.js';
import { KeyTracker, revokedSelfSigners } from '../dnssec/rfc5011.js';
import { securityName } from '../dnssec/security.js';
import { Validator } from '../dnssec/validator.js';
import { NsecGaps } from '../dnssec/aggressive.js';
import type { Fetched } from '../dnssec/validator.js';
import type { Metrics } from '../metrics/metrics.js';
import type { ControlHandler } from '../control/server.js';
import type { Budget } from './iterator/iterator.js';

export interface DnssecSetup {
  anchors: TrustAnchorStore;
  validator: Validator<Budget>;
  tracker?: KeyTracker;
  /** RFC 8198 (dnssec.aggressive_nsec). */
  gaps?: NsecGaps;
  /** `verdict ctl nta list|add NAME|remove NAME`; `changed(name)` drops what was judged under the old anchors. */
  controlHandlers(changed: (name: Name | undefined) => void): { [command: string]: ControlHandler };
}

export interface DnssecDeps {
  now: () => number;
  fetch: (name: Name, type: number, budget: Budget, validate: boolean) => Promise<Fetched>;
  metrics: Metrics;
  logger: Logger;
  /** The apex of a forward or stub zone (ValidatorOptions.privateZone). */
  privateZone?: (zone: Name) => boolean;
}

function fqdnName(text: string): Name {
  return nameFromText(text.endsWith('.') ? text : text + '.');
}

export function buildDnssec(loaded: LoadedConfig, deps: DnssecDeps): DnssecSetup {
  const d = loaded.config.dnssec;
  const files = d.trust_anchor_file === undefined ? [] : (Array.isArray(d.trust_anchor_file) ? d.trust_anchor_file : [d.trust_anchor_file]);
  const anchors = new TrustAnchorStore(
    files.length ? loadTrustAnchorFiles(files.map((f) => resolve(loaded.baseDir, f))) : [IANA_ROOT_ANCHORS],
    d.negative_trust_anchors.map(fqdnName),
  );
  // RFC 5011: only the built-in root anchors are tracked (an operator's anchor file is the operator's to keep).
  let tracker: KeyTracker | undefined;
  if (d.root_key_state_file && files.length === 0) {
    tracker = new KeyTracker({
      zone: ROOT,
      initial: IANA_ROOT_ANCHORS,
      stateFile: resolve(loaded.baseDir, d.root_key_state_file),
      now: deps.now,
      log: (msg, data) => deps.logger.info({ ...data }, msg),
    });
    anchors.setAnchor(tracker.anchor());
  }
  const validator = new Validator<Budget>({
    anchors,
    fetch: deps.fetch,
    now: deps.now,
    bogusTtl: d.bogus_ttl,
    nsec3MaxIterations: d.nsec3_max_iterations,
    ...(deps.privateZone ? { privateZone: deps.privateZone } : {}),
    ...(tracker ? {
      onAnchoredKeys: (zone: Name, dnskeys, sigs) => {
        if (zone.length !== 1) return;
        // RFC 5011 2.1: a key counts as revoked only when its revoked form signed the set.
        tracker.observe(dnskeys, deps.now(), revokedSelfSigners(zone, dnskeys, sigs, deps.now() / 1000));
        anchors.setAnchor(tracker.anchor());
      },
    } : {}),
    onVerdict: (v) => deps.metrics.dnssecValidations.labels(securityName(v.security), v.ede ? String(v.ede.code) : '').inc(),
    onBogus: (what, ede) => deps.logger.warn({ rrset: what, ede: ede.code, reason: ede.text }, 'DNSSEC validation failed (bogus)'),
  });
  const gaps = d.aggressive_nsec ? new NsecGaps(100_000, deps.now) : undefined;
  return {
    anchors,
    validator,
    ...(tracker ? { tracker } : {}),
    ...(gaps ? { gaps } : {}),
    controlHandlers: (changed) => ntaControlHandlers(anchors, (name?: Name) => {
      validator.clear();
      gaps?.clear();
      changed(name);
      deps.logger.info({ negative_trust_anchors: anchors.negatives().map(nameToText) }, 'negative trust anchors changed');
    }),
  };
}
