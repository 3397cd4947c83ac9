/**
 * The certificate and key of the DoT and DoH listeners (server.tls), read and
 * checked as a pair: both parse, the key is the certificate's, and the
 * certificate is valid now. Used at start, at every reload (a bad pair keeps
 * the old one serving) and by `verdict check`.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createSecureContext } from 'node:tls';

/** A certificate this close to its end is warned about (log at start and reload, and `verdict check`). */
export const EXPIRY_WARNING_DAYS = 30;
const DAY_MS = 86_400_000;

export class TlsPairError extends Error {
  readonly code = 'VERDICT_ERR_TLS_PAIR';
}

export interface TlsPair {
  cert: Buffer;
  key: Buffer;
  certFile: string;
  keyFile: string;
  /** The leaf certificate's subject and subjectAltName, for messages. */
  subject: string;
  altNames: string;
  notAfter: Date;
}

function read(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new TlsPairError(`server.tls.${what} ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** Read and check the pair; throws TlsPairError saying which file and what is wrong. */
export function loadTlsPair(tls: { cert_file: string; key_file: string }, baseDir: string, now = new Date()): TlsPair {
  const certFile = resolve(baseDir, tls.cert_file);
  const keyFile = resolve(baseDir, tls.key_file);
  const cert = read(certFile, 'cert_file');
  const key = read(keyFile, 'key_file');
  let leaf: X509Certificate;
  try {
    // The first certificate of the PEM file is the server's; any after it are the chain.
    leaf = new X509Certificate(cert);
  } catch (e) {
    throw new TlsPairError(`server.tls.cert_file ${certFile}: not a PEM certificate (${(e as Error).message})`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (e) {
    throw new TlsPairError(`server.tls.key_file ${keyFile}: not an unencrypted PEM private key (${(e as Error).message})`);
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new TlsPairError(`server.tls: the key in ${keyFile} does not match the certificate in ${certFile} (${leaf.subject.replace(/\n/g, ', ')})`);
  }
  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  if (now < notBefore) throw new TlsPairError(`server.tls.cert_file ${certFile}: not valid before ${notBefore.toISOString()}`);
  if (now > notAfter) throw new TlsPairError(`server.tls.cert_file ${certFile}: expired on ${notAfter.toISOString()}`);
  try {
    createSecureContext({ cert, key });
  } catch (e) {
    throw new TlsPairError(`server.tls: ${certFile} with ${keyFile}: ${(e as Error).message}`);
  }
  return { cert, key, certFile, keyFile, subject: leaf.subject.replace(/\n/g, ', '), altNames: leaf.subjectAltName ?? '', notAfter };
}

/** Days until the certificate expires (fractional), and whether that is within the warning window. */
export function expiry(pair: TlsPair, now = new Date()): { seconds: number; days: number; warn: boolean } {
  const ms = pair.notAfter.getTime() - now.getTime();
  return { seconds: Math.floor(ms / 1000), days: ms / DAY_MS, warn: ms < EXPIRY_WARNING_DAYS * DAY_MS };
}

/** `verdict check`: lines to print and errors, for a config with server.tls. */
export function checkTlsConfig(tls: { cert_file: string; key_file: string } | undefined, baseDir: string, now = new Date()): { lines: string[]; errors: string[] } {
  if (!tls) return { lines: [], errors: [] };
  try {
    const pair = loadTlsPair(tls, baseDir, now);
    const e = expiry(pair, now);
    const days = Math.floor(e.days);
    const lines = [`tls: ${pair.certFile} (${pair.subject}; ${pair.altNames || 'no subjectAltName'}) matches ${pair.keyFile}; valid until ${pair.notAfter.toISOString()} (${days} days)`];
    if (e.warn) lines.push(`warning: tls: ${pair.certFile} expires in ${days} days (under ${EXPIRY_WARNING_DAYS}): renew it, then reload`);
    return { lines, errors: [] };
  } catch (e) {
    if (e instanceof TlsPairError) return { lines: [], errors: [e.message] };
    throw e;
  }
}
