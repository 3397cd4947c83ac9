/**
 * The closed set of zone-transfer failures (STYLE.md lesson 8): one class,
 * one stable code per failure, and a short label for metrics.
 */
export type TransferErrorCode =
  /** The transfer or query did not finish within its overall time limit. */
  | 'VERDICT_ERR_XFR_TIMEOUT'
  /** The primary could not be reached (connection refused, unreachable). */
  | 'VERDICT_ERR_XFR_CONNECT'
  /** The connection closed, or failed, before the transfer was complete. */
  | 'VERDICT_ERR_XFR_CLOSED'
  /** The primary answered with an error rcode (REFUSED, NOTAUTH, SERVFAIL...). */
  | 'VERDICT_ERR_XFR_RCODE'
  /** TSIG failed: unsigned, BADSIG, BADKEY, BADTIME, on either side. */
  | 'VERDICT_ERR_XFR_TSIG'
  /** A message or record sequence that breaks RFC 5936 / RFC 1995. */
  | 'VERDICT_ERR_XFR_MALFORMED'
  /** A record owned by a name outside the zone. */
  | 'VERDICT_ERR_XFR_OUT_OF_ZONE'
  /** More records than the zone's `max_records`. */
  | 'VERDICT_ERR_XFR_TOO_LARGE'
  /** IXFR differences that do not apply to the zone we hold. */
  | 'VERDICT_ERR_XFR_IXFR_MISMATCH'
  /** The copy on disk could not be written or read back. */
  | 'VERDICT_ERR_XFR_STORE';

export class TransferError extends Error {
  override readonly name = 'TransferError';

  constructor(
    readonly code: TransferErrorCode,
    message: string,
    /** The rcode for VERDICT_ERR_XFR_RCODE, the TSIG error for VERDICT_ERR_XFR_TSIG. */
    readonly detail: { rcode?: number; tsigError?: number } = {},
  ) {
    super(message);
  }

  /** Metric label: "timeout", "closed", "tsig"... */
  get label(): string {
    return this.code.slice('VERDICT_ERR_XFR_'.length).toLowerCase();
  }
}
