/**
 * The security status of cached data and answers (RFC 4035 4.3), kept beside
 * every RRset and negative answer in the record cache.
 */
export const enum Security {
  /** Not looked at yet (data cached on the way, or validation off). */
  Unchecked = 0,
  /** No chain of trust reaches it: unsigned zone below a proven insecure delegation, a negative trust anchor, no anchor. */
  Insecure = 1,
  /** Validated from a trust anchor down. */
  Secure = 2,
  /** A chain of trust should reach it and does not: never given to a client that did not set CD. */
  Bogus = 3,
}

export interface Ede {
  code: number;
  text: string;
}

/** What the validator concluded of one step of a resolution. */
export interface Verdict {
  security: Security;
  /** Why it is bogus or insecure, as an Extended DNS Error (RFC 8914 4). */
  ede?: Ede;
}

export function securityName(s: Security): 'unchecked' | 'insecure' | 'secure' | 'bogus' {
  return s === Security.Secure ? 'secure' : s === Security.Insecure ? 'insecure' : s === Security.Bogus ? 'bogus' : 'unchecked';
}
