/**
 * The demo's certificate for DoT and DoH (`verdict demo`): a throwaway CA and a
 * server certificate it signs, made with Debian's openssl where the demo config's
 * server.tls says (var/demo-tls/), once, and again only when missing or close to
 * expiry. Clients verify against the CA, not insecurely:
 *   dig @127.0.0.1 -p 8443 +https +tls-ca=var/demo-tls/ca.pem www.example.com
 *
 * openssl, not node: node:crypto makes keys but not X.509 certificates, and
 * openssl is already a dependency (scripts/deps.sh) for the tests' own CA.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { EXPIRY_WARNING_DAYS } from '../resolver/encrypted/certs.js';

/** The names the demo certificate carries: what a client may ask for at 127.0.0.1 or ::1. */
export const DEMO_TLS_NAMES = ['DNS:localhost', 'DNS:dns.verdict.demo', 'IP:127.0.0.1', 'IP:::1'];
const DAYS = 365;

export interface DemoTls {
  /** The CA certificate clients verify against (PEM), next to the server's certificate. */
  ca: string;
  cert: string;
  key: string;
  /** Made just now (false: the files were there and good). */
  made: boolean;
}

function usable(cert: string, key: string, ca: string): boolean {
  if (!existsSync(cert) || !existsSync(key) || !existsSync(ca)) return false;
  try {
    const left = new Date(new X509Certificate(readFileSync(cert)).validTo).getTime() - Date.now();
    return left > EXPIRY_WARNING_DAYS * 86_400_000;
  } catch {
    return false;
  }
}

/** Make the CA and the server pair at server.tls's paths (relative to `baseDir`) unless they are there and good. */
export function ensureDemoTls(tls: { cert_file: string; key_file: string }, baseDir: string): DemoTls {
  const cert = resolve(baseDir, tls.cert_file);
  const key = resolve(baseDir, tls.key_file);
  const dir = dirname(cert);
  const ca = join(dir, 'ca.pem');
  if (usable(cert, key, ca)) return { ca, cert, key, made: false };
  mkdirSync(dir, { recursive: true });
  mkdirSync(dirname(key), { recursive: true });
  const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
  const base = basename(cert).replace(/\.pem$/, '');
  try {
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', String(DAYS),
      '-subj', '/CN=Verdict demo CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    writeFileSync(join(dir, `${base}.ext`), `subjectAltName=${DEMO_TLS_NAMES.join(',')}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`);
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', `${base}.csr`, '-subj', '/CN=dns.verdict.demo']);
    openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', cert, '-days', String(DAYS), '-extfile', `${base}.ext`]);
  } catch (e) {
    const err = e as { code?: string; stderr?: Buffer; message: string };
    const why = err.code === 'ENOENT' ? 'openssl is not installed (scripts/deps.sh)' : (err.stderr?.toString().trim() || err.message);
    throw new Error(`verdict demo: cannot make the demo certificate in ${dir}: ${why}`);
  }
  for (const f of [`${base}.csr`, `${base}.ext`, 'ca.srl']) rmSync(join(dir, f), { force: true });
  return { ca, cert, key, made: true };
}
