/**
 * Court orders as data: the shape of an order file and the normalised `Order`.
 *
 * An order file is YAML, one order per file, written by a legal/compliance team:
 *
 * ```yaml
 * id: 2013-tgi-paris-allostreaming
 * court: Tribunal de grande instance de Paris
 * decision_date: 2013-11-28
 * reference: RG 00/00000            # optional case number
 * parties: { plaintiffs: [APC], addressees: [Orange, Free] }
 * effective: { within_days: 15 }    # or a date: 2013-12-13
 * duration: { months: 12 }          # or { days: N }, or until: 2014-12-12
 * timezone: Europe/Paris            # optional; default from the loader (config orders.timezone)
 * status: active                    # active | suspended | lifted: the status after the last history entry;
 *                                   # or draft: not a decision (e.g. from `verdict mirrors draft`), never enforced
 * history: [{ date: 2014-01, status: active, note: appeal lodged, not suspensive }]
 * action: { redirect: notice.verdict.example }   # or nxdomain, or nodata
 * include_subdomains: true
 * domains: [dpstream.tv, { label: fifostream, variants: [com, org, net, tv] }]
 * amends: other-order-id            # an amendment (e.g. mirrors added by a later decision)
 * example: false                    # true marks a made-up order (demo); its rules say so
 * notes: free text
 * ```
 *
 * Dates and the instants derived from them (documented here because
 * enforcement, audit and the compiled zone all depend on them):
 * - `effective` is the deadline by which blocking must be in place: a date, or
 *   `within_days` calendar days after `decision_date`. Enforcement starts at
 *   00:00 of that date in the order's time zone (default Europe/Paris, the
 *   court's), so the measure is in place for the whole day on which compliance
 *   is judged. An ISP that wants to block from the decision itself writes
 *   `effective: <decision date>`.
 * - `duration` counts from that start: { months: 12 } from 2013-12-13 ends at
 *   2014-12-13 00:00 (exclusive), so the last day of blocking is 2014-12-12.
 *   Months are calendar months; a day missing from the target month clamps to
 *   its last day (31 January + 1 month = 28/29 February).
 * - `until` names the last day of blocking, inclusive.
 * - `history` dates take effect at 00:00 of that date in the same time zone. A
 *   note that does not change the status may carry only a month (`2014-01`),
 *   because sources often say "in January 2014" and we do not invent a day; a
 *   change of status needs a full date.
 */
import { z } from 'zod';
import { domainToASCII, domainToUnicode } from 'node:url';
import type { Prefix } from '../cidrtrie.js';

export const ORDER_STATUSES = ['active', 'suspended', 'lifted'] as const;
export type DeclaredStatus = (typeof ORDER_STATUSES)[number];
/**
 * What a file's `status` may say: a decided status, or `draft` for a text not
 * (yet) decided by a judge, such as an amendment drafted from mirror evidence.
 * A draft validates like any order but is never enforced, whatever its dates
 * (orderState gives `draft`); setting `status: active` once the judge has
 * ruled is what makes it an order. `draft` is not a history status: a
 * history records decisions.
 */
export const FILE_STATUSES = [...ORDER_STATUSES, 'draft'] as const;
export type FileStatus = (typeof FILE_STATUSES)[number];

const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

const date = z
  .string({ error: 'expected a date YYYY-MM-DD' })
  .regex(DATE_RE, 'expected a date YYYY-MM-DD');

const domainItem = z.union(
  [
    z.string(),
    z.strictObject({
      label: z.string(),
      variants: z.array(z.string()).min(1, 'expected at least one variant'),
    }),
  ],
  { error: 'expected a domain name or { label, variants: [...] }' },
);

// ---------------------------------------------------------------- scope and publication (issue 17)
/**
 * Keys an order (and a regulator request) may carry about whom it applies to
 * and what the transparency report publishes. Kept apart so that every kind of
 * order file spreads the same block into its schema.
 * - `applies_to`: names of `orders.networks` sets or literal prefixes; absent = every client.
 * - `except`: the same, never blocked by this order (wins over applies_to).
 * - `publish_names`: the transparency report lists the order's names (default: only their count).
 */
const scopeItem = z.string({ error: 'expected a network set name (orders.networks) or a prefix such as 192.0.2.0/24' }).min(1);
export const scopeFields = {
  applies_to: z.array(scopeItem).min(1, 'applies_to lists at least one network set or prefix (leave it out to apply to every client)').optional(),
  except: z.array(scopeItem).default([]),
  publish_names: z.boolean().default(false),
};

/** The file as written (snake_case keys); semantic checks come after, in load.ts. */
export const orderFileSchema = z.strictObject({
  ...scopeFields,
  /** Optional for a court order; `regulator-request` files have their own schema (request.ts). */
  kind: z.literal('order', { error: 'expected kind: order or kind: regulator-request' }).optional(),
  id: z
    .string({ error: 'expected an id (letters, digits, ".", "_", "-")' })
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'expected an id of letters, digits, ".", "_", "-" (at most 100)'),
  court: z.string().min(1, 'expected the name of the court'),
  decision_date: date,
  reference: z.string().min(1).optional(),
  parties: z.strictObject({
    plaintiffs: z.array(z.string().min(1)).default([]),
    addressees: z.array(z.string().min(1)).default([]),
  }),
  effective: z.union([date, z.strictObject({ within_days: z.number().int().min(0).max(3650) })], {
    error: 'expected a date YYYY-MM-DD or { within_days: N }',
  }),
  duration: z
    .union([
      z.strictObject({ months: z.number().int().min(1).max(1200) }),
      z.strictObject({ days: z.number().int().min(1).max(36500) }),
    ], { error: 'expected { months: N } or { days: N }' })
    .optional(),
  until: date.optional(),
  timezone: z.string().optional(),
  status: z.enum(FILE_STATUSES).default('active'),
  history: z
    .array(
      z.strictObject({
        date: z.string({ error: 'expected a date YYYY-MM-DD (or YYYY-MM for a note)' })
          .regex(/^\d{4}-\d{2}(-\d{2})?$/, 'expected a date YYYY-MM-DD (or YYYY-MM for a note)'),
        status: z.enum(ORDER_STATUSES),
        note: z.string().optional(),
      }),
    )
    .default([]),
  action: z.union([z.enum(['nxdomain', 'nodata']), z.strictObject({ redirect: z.string().min(1) })], {
    error: 'expected nxdomain, nodata or { redirect: HOST }',
  }),
  include_subdomains: z.boolean().default(true),
  domains: z.array(domainItem).min(1, 'an order lists at least one domain'),
  amends: z.string().min(1).optional(),
  example: z.boolean().default(false),
  notes: z.string().optional(),
});

export type OrderFile = z.output<typeof orderFileSchema>;

/** Whom an order applies to: `applies_to` minus `except`, resolved to prefixes. */
export interface OrderScope {
  /** As written (set names and prefixes); empty when only `except` is given. */
  readonly appliesTo: readonly string[];
  readonly except: readonly string[];
  /** Resolved `applies_to`; undefined = every client. */
  readonly include?: readonly Prefix[];
  readonly exclude: readonly Prefix[];
}
/** `order`: loaded from a judgment by a person; the others arrive automatically and pass the safeguards. */
export type OrderKind = 'order' | 'regulator-request' | 'feed';

export type OrderAction = { type: 'redirect'; host: string } | { type: 'nxdomain' } | { type: 'nodata' };

/** Where something sits in its file (1-based). */
export interface SourcePos {
  line: number;
  column: number;
}

export interface StatusChange {
  /** As written: YYYY-MM-DD, or YYYY-MM for a note that keeps the status. */
  date: string;
  /** 00:00 of `date` in the order's time zone; undefined for a month-only note. */
  at: Date | undefined;
  status: DeclaredStatus;
  note?: string;
}

/** A validated order with every date resolved to an instant. Immutable once built. */
export interface Order {
  readonly id: string;
  /** The file as the loader named it (relative to its base directory). */
  readonly file: string;
  /** sha256 of the file's text, hex: what the audit log records as "this version". */
  readonly sha256: string;
  readonly court: string;
  readonly decisionDate: string;
  readonly reference?: string;
  readonly parties: { readonly plaintiffs: readonly string[]; readonly addressees: readonly string[] };
  readonly timezone: string;
  /** The effective date (the compliance deadline), YYYY-MM-DD. */
  readonly effectiveDate: string;
  /** Enforcement starts: 00:00 of `effectiveDate` in `timezone`. */
  readonly activeFrom: Date;
  /** Last day of blocking, inclusive, YYYY-MM-DD. */
  readonly lastDay: string;
  /** Enforcement ends (exclusive): 00:00 of the day after `lastDay`. */
  readonly expiresAt: Date;
  /** The status after the last history entry, or `draft` (never enforced). */
  readonly status: FileStatus;
  /** In file order, which is chronological (checked). */
  readonly history: readonly StatusChange[];
  readonly action: OrderAction;
  readonly includeSubdomains: boolean;
  /** Distinct names, lowercase ASCII (IDNA), no trailing dot, in file order. */
  readonly names: readonly string[];
  readonly amends?: string;
  readonly example: boolean;
  readonly notes?: string;
  /** Client networks it applies to (issue 17); absent: every client. */
  readonly scope?: OrderScope;
  /** The transparency report may list `names` (else only their count). */
  readonly publishNames: boolean;
  // --- regulator requests and feeds (issue 16; see request.ts) ---------------
  /** `order` (absent) for a court order; a regulator request or a live feed derives from a parent order. */
  readonly kind?: OrderKind;
  /** Who issued a request (e.g. Arcom); for a request `court` holds the same. */
  readonly authority?: string;
  /** The parent order's id (requests and feeds). */
  readonly parent?: string;
  /** The parent order itself, bound by checkOrderSet: a derived entry is enforced only while it is. */
  readonly parentOrder?: Order;
  /** Address entries (rpz-ip triggers): IPv4/IPv6 addresses or CIDR prefixes, canonical text. */
  readonly addresses?: readonly string[];
  // ---------------------------------------------------------------------------
  /** Positions for cross-file diagnostics (duplicate ids, names in two orders). */
  readonly source: {
    readonly id: SourcePos;
    readonly amends?: SourcePos;
    readonly names: ReadonlyMap<string, SourcePos>;
  };
}

/**
 * A domain name as an order may write it, to the canonical form: lowercase
 * ASCII, IDNA (punycode) for internationalised names, no trailing dot.
 * Court orders name registrable sites, so a bare TLD, an IP address and a
 * wildcard are refused (subdomains are covered by `include_subdomains`).
 */
export function normalizeDomainName(input: string): { name: string } | { error: string } {
  const bad = (why: string) => ({ error: `not a valid domain name: ${JSON.stringify(input)} (${why})` });
  let text = input.trim();
  if (text.endsWith('.')) text = text.slice(0, -1);
  if (text === '') return bad('empty');
  if (text.startsWith('*.')) return bad("write the name without '*.'; include_subdomains covers subdomains");
  // domainToASCII applies IDNA (UTS 46) mapping and punycode, and returns ''
  // for what it cannot convert; Node 20 also for malformed xn-- labels, Node 24
  // passes those through, so each A-label is checked to decode (RFC 5891 5.4).
  const ascii = domainToASCII(text);
  if (ascii === '') return bad(/[^\x00-\x7f]/.test(text) ? 'cannot convert to IDNA' : 'invalid characters or punycode');
  const labels = ascii.split('.');
  if (labels.some((l) => l.startsWith('xn--') && domainToUnicode(l).startsWith('xn--'))) return bad('invalid characters or punycode');
  if (ascii.length > 253) return bad('longer than 253 characters');
  if (labels.length < 2) return bad('a single label; name the site, not a TLD');
  for (const l of labels) {
    if (l === '') return bad('empty label');
    if (l.length > 63) return bad('a label longer than 63 characters');
    if (!/^[a-z0-9_-]+$/.test(l)) return bad(`label ${JSON.stringify(l)} has characters other than letters, digits, "-" and "_"`);
    if (l.startsWith('-') || l.endsWith('-')) return bad(`label ${JSON.stringify(l)} starts or ends with "-"`);
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return bad('an IP address or numeric TLD');
  return { name: ascii };
}

export function actionToText(action: OrderAction): string {
  return action.type === 'redirect' ? `redirect to ${action.host}` : action.type;
}

/** How an order is named in TXT, EDE and reports: id, then court, decision date and reference. */
export function orderLabel(o: Pick<Order, 'id' | 'court' | 'decisionDate' | 'reference' | 'example'>): string {
  const ex = o.example ? 'EXAMPLE, not a real decision; ' : '';
  return `${o.id} (${ex}${o.court}, ${o.decisionDate}${o.reference ? `, ${o.reference}` : ''})`;
}

/** True for what arrives automatically (requests, feeds): the safeguards apply to it. */
export function isAutomated(o: Pick<Order, 'kind'>): boolean {
  return o.kind === 'regulator-request' || o.kind === 'feed';
}

/**
 * The chain of authority in one line: `request -> order (court)`, e.g.
 * "regulator request arcom-2014-0001 (Arcom, 2014-05-01, ARCOM/2014/0001) under court order
 * 2013-tgi-paris-allostreaming (Tribunal de grande instance de Paris, 2013-11-28)".
 */
export function chainLabel(o: Pick<Order, 'id' | 'court' | 'decisionDate' | 'reference' | 'example' | 'kind' | 'parentOrder'>): string {
  if (!o.parentOrder) return `court order ${orderLabel(o)}`;
  const what = o.kind === 'feed' ? 'feed' : 'regulator request';
  return `${what} ${orderLabel(o)} under ${chainLabel(o.parentOrder)}`;
}
