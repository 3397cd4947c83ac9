/**
 * A throwaway PKI made by the test itself with Debian's openssl: a CA, and
 * server certificates it signs for a name and 127.0.0.1, so that clients
 * (kdig, dig, curl, node) verify the server against the CA, never insecurely.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const TEST_TLS_NAME = 'dns.verdict.test';

export interface TestCa {
  dir: string;
  /** The CA certificate (PEM file) clients verify against. */
  ca: string;
  caKey: string;
}

export interface TestCert {
  cert: string;
  key: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
}

export function makeCa(dir: string): TestCa {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '3',
    '-subj', '/CN=Verdict test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  return { dir, ca: join(dir, 'ca.pem'), caKey: join(dir, 'ca.key') };
}

/** A server certificate signed by `ca`, valid `days` days, for TEST_TLS_NAME and 127.0.0.1 (files `<base>.pem`, `<base>.key`). */
export function makeServerCert(ca: TestCa, base: string, days = 3, cn = TEST_TLS_NAME): TestCert {
  const dir = ca.dir;
  writeFileSync(join(dir, `${base}.ext`), `subjectAltName=DNS:${TEST_TLS_NAME},IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${cn}`], dir);
  openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${base}.pem`, '-days', String(days), '-extfile', `${base}.ext`], dir);
  return { cert: join(dir, `${base}.pem`), key: join(dir, `${base}.key`) };
}

/** A private key that belongs to no certificate here. */
export function makeStrayKey(dir: string, base: string): string {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${base}.key`], dir);
  return join(dir, `${base}.key`);
}
