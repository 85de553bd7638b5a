import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * A private certificate authority for MLLP over mutual TLS, made with the openssl CLI (Node's crypto
 * can sign but not build X.509 certificates): one CA, a server certificate for the listener
 * (SAN 127.0.0.1, ::1 and localhost) and one client certificate per sender. `npm start` and the tests
 * issue their own; production operators issue theirs the same way (docs/security.md "Senders").
 * Keys are EC P-256, certificates valid for `days`.
 */

export interface IssuedCertificate {
  /** PEM */
  cert: string;
  /** PEM (PKCS#8), never logged. */
  key: string;
  /** SHA-256 fingerprint as the sender registry names it (`AB:CD:…`). */
  fingerprint256: string;
  certFile: string;
  keyFile: string;
}

export interface MllpCertificates {
  caFile: string;
  ca: string;
  server: IssuedCertificate;
  clients: Record<string, IssuedCertificate>;
}

const OPENSSL = process.env.LABLOOP_OPENSSL ?? 'openssl';
const DEFAULT_DAYS = 365;

function openssl(args: string[], cwd: string): string {
  try {
    return execFileSync(OPENSSL, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`openssl ${args[0] ?? ''} failed (is the openssl CLI installed?): ${stderr.trim()}`, {
      cause: err,
    });
  }
}

function newKey(dir: string, name: string): string {
  const file = path.join(dir, `${name}.key`);
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file], dir);
  return file;
}

function fingerprint(certFile: string, dir: string): string {
  const out = openssl(['x509', '-in', certFile, '-noout', '-fingerprint', '-sha256'], dir);
  return (out.split('=')[1] ?? '').trim().toUpperCase();
}

/** Signs a certificate for `commonName` with the CA in `dir`; `server` adds the listener's SANs. */
function issue(dir: string, name: string, commonName: string, kind: 'server' | 'client', days: number) {
  const keyFile = newKey(dir, name);
  const csr = path.join(dir, `${name}.csr`);
  const ext = path.join(dir, `${name}.ext`);
  const certFile = path.join(dir, `${name}.crt`);
  openssl(['req', '-new', '-key', keyFile, '-subj', `/CN=${commonName}`, '-out', csr], dir);
  writeFileSync(
    ext,
    kind === 'server'
      ? 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n'
      : 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n',
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      String(days),
      '-sha256',
      '-extfile',
      ext,
      '-out',
      certFile,
    ],
    dir,
  );
  return {
    cert: readFileSync(certFile, 'utf8'),
    key: readFileSync(keyFile, 'utf8'),
    fingerprint256: fingerprint(certFile, dir),
    certFile,
    keyFile,
  };
}

/**
 * A CA, the listener's certificate and one client certificate per name in `clients` (its CN is the
 * name), in `dir`. Existing files are reused, so a restarted sandbox keeps its senders' certificates.
 */
export function issueMllpCertificates(
  dir: string,
  clients: readonly string[],
  options: { days?: number; caName?: string } = {},
): MllpCertificates {
  const days = options.days ?? DEFAULT_DAYS;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caFile = path.join(dir, 'ca.crt');
  if (!existsSync(caFile)) {
    newKey(dir, 'ca');
    openssl(
      [
        'req',
        '-x509',
        '-new',
        '-key',
        'ca.key',
        '-subj',
        `/CN=${options.caName ?? 'labloop MLLP sandbox CA'}`,
        '-days',
        String(days),
        '-sha256',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
        '-out',
        'ca.crt',
      ],
      dir,
    );
  }
  const reuseOrIssue = (name: string, commonName: string, kind: 'server' | 'client'): IssuedCertificate => {
    const certFile = path.join(dir, `${name}.crt`);
    const keyFile = path.join(dir, `${name}.key`);
    if (existsSync(certFile) && existsSync(keyFile)) {
      return {
        cert: readFileSync(certFile, 'utf8'),
        key: readFileSync(keyFile, 'utf8'),
        fingerprint256: fingerprint(certFile, dir),
        certFile,
        keyFile,
      };
    }
    return issue(dir, name, commonName, kind, days);
  };
  const server = reuseOrIssue('server', 'localhost', 'server');
  const issued: Record<string, IssuedCertificate> = {};
  for (const name of clients) issued[name] = reuseOrIssue(`client-${name}`, name, 'client');
  return { caFile, ca: readFileSync(caFile, 'utf8'), server, clients: issued };
}
