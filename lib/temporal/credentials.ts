import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Credentials for a closed Temporal cluster (docs/security.md, "Temporal"):
 * - X.509 from a private CA (openssl): the server's certificate (frontend and internode) and one
 *   client certificate per labloop identity (worker, api, setup). The frontend requires a client
 *   certificate from this CA (mutual TLS), so nothing without one gets past the handshake;
 * - JWTs for the server's default authorizer and claim mapper: signed with an RSA key whose public
 *   half the server reads as a JWKS file, each carrying the identity's Temporal permissions
 *   (`<namespace>:write`, `temporal-system:admin` (the server's system scope) for the setup job, `<namespace>:read` for the UI).
 * Used by the tests (certificates generated per run) and by scripts/temporal-credentials.ts.
 */

export interface CertificateFiles {
  cert: string;
  key: string;
}

export interface CertificateAuthority extends CertificateFiles {
  name: string;
}

/** The CA lives ten years; leaves a year (rotation: issue new leaves, then retire the old ones). */
const CA_DAYS = 3650;
export const LEAF_DAYS = 365;

function openssl(args: string[]): void {
  execFileSync(process.env.OPENSSL_PATH ?? 'openssl', args, { stdio: 'pipe' });
}

/** A new CA (P-256 key) in `dir`: `<name>.pem` and `<name>.key`. */
export function createCertificateAuthority(dir: string, name: string, commonName: string): CertificateAuthority {
  mkdirSync(dir, { recursive: true });
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}.key`);
  openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    String(CA_DAYS),
    '-subj',
    `/CN=${commonName}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { name, cert, key };
}

export interface LeafOptions {
  /** File name stem: `<name>.pem`, `<name>.key`. */
  name: string;
  commonName: string;
  /** `server` certificates also authenticate as clients (the server's internode connections). */
  usage: 'server' | 'client';
  /** Server names and addresses (subjectAltName), for `server` certificates. */
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
  days?: number;
}

/** A P-256 leaf certificate signed by `ca`, written next to it. */
export function issueCertificate(ca: CertificateAuthority, options: LeafOptions): CertificateFiles {
  const dir = path.dirname(ca.cert);
  const cert = path.join(dir, `${options.name}.pem`);
  const key = path.join(dir, `${options.name}.key`);
  const csr = path.join(dir, `${options.name}.csr`);
  const ext = path.join(dir, `${options.name}.ext`);
  const san = [
    ...(options.dnsNames ?? []).map((d) => `DNS:${d}`),
    ...(options.ipAddresses ?? []).map((ip) => `IP:${ip}`),
  ];
  writeFileSync(
    ext,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      `extendedKeyUsage=${options.usage === 'server' ? 'serverAuth,clientAuth' : 'clientAuth'}`,
      ...(san.length > 0 ? [`subjectAltName=${san.join(',')}`] : []),
    ].join('\n'),
  );
  openssl([
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    key,
    '-out',
    csr,
    '-subj',
    `/CN=${options.commonName}`,
  ]);
  openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-set_serial',
    `0x${randomBytes(16).toString('hex')}`,
    '-days',
    String(options.days ?? LEAF_DAYS),
    '-out',
    cert,
    '-extfile',
    ext,
  ]);
  rmSync(csr, { force: true });
  rmSync(ext, { force: true });
  return { cert, key };
}

/** The RSA key that signs Temporal JWTs, and the JWKS (public half) the server loads. */
export interface JwtSigningKey {
  kid: string;
  privateKeyPem: string;
  jwksFile: string;
}

/** A new signing key; `jwks.json` in `dir` lists it (and any `keep` keys, for rotation). */
export function createJwtSigningKey(dir: string, kid: string, keep: readonly JwtSigningKey[] = []): JwtSigningKey {
  mkdirSync(dir, { recursive: true });
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const jwksFile = path.join(dir, 'jwks.json');
  const key: JwtSigningKey = { kid, privateKeyPem, jwksFile };
  writeJwks(jwksFile, [key, ...keep]);
  return key;
}

export function writeJwks(file: string, keys: readonly Pick<JwtSigningKey, 'kid' | 'privateKeyPem'>[]): void {
  const jwks = {
    keys: keys.map((k) => ({
      ...createPublicKey(createPrivateKey(k.privateKeyPem)).export({ format: 'jwk' }),
      kid: k.kid,
      alg: 'RS256',
      use: 'sig',
    })),
  };
  writeFileSync(file, `${JSON.stringify(jwks, null, 2)}\n`);
}

export function readJwtSigningKey(file: string, kid: string, jwksFile: string): JwtSigningKey {
  return { kid, privateKeyPem: readFileSync(file, 'utf8'), jwksFile };
}

export interface TokenClaims {
  /** Who this is (the audit trail in Temporal names it): e.g. `labloop-worker`. */
  subject: string;
  /** Temporal permissions, `<namespace>:<read|write|worker|admin>`, or `temporal-system:<role>` for the cluster. */
  permissions: readonly string[];
  /** Lifetime; a token past it is refused by the server. */
  ttlSeconds: number;
  now?: Date;
}

const base64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

/** An RS256 JWT as the server's default claim mapper reads it (`sub`, `permissions`, `exp`). */
export function mintTemporalToken(key: JwtSigningKey, claims: TokenClaims): string {
  const iat = Math.floor((claims.now ?? new Date()).getTime() / 1000);
  const header = base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: key.kid }));
  const payload = base64url(
    JSON.stringify({ sub: claims.subject, permissions: claims.permissions, iat, exp: iat + claims.ttlSeconds }),
  );
  const signature = sign('RSA-SHA256', Buffer.from(`${header}.${payload}`), createPrivateKey(key.privateKeyPem));
  return `${header}.${payload}.${base64url(signature)}`;
}

/** labloop's identities: each gets a client certificate; all but the UI a token (the UI forwards its users' SSO tokens). */
export type LabloopIdentity = 'worker' | 'api' | 'setup' | 'ui';
export const LABLOOP_IDENTITIES: readonly LabloopIdentity[] = ['worker', 'api', 'setup', 'ui'];

/** What each identity may do: only labloop's worker and API write to its namespace. */
export function labloopPermissions(namespace: string): Record<Exclude<LabloopIdentity, 'ui'>, readonly string[]> {
  return {
    worker: [`${namespace}:write`],
    api: [`${namespace}:write`],
    // Creates the namespace and registers search attributes: cluster-level operator calls.
    setup: ['temporal-system:admin'],
  };
}

/** An envconfig TOML profile (TEMPORAL_CONFIG_FILE): the identity's certificate, key and token. */
export function temporalProfileToml(input: {
  certPath: string;
  keyPath: string;
  caPath: string;
  serverName: string;
  apiKey?: string;
}): string {
  const q = (v: string) => JSON.stringify(v);
  return [
    "# Written by scripts/temporal-credentials.ts: this identity's connection to the closed Temporal cluster.",
    '[profile.default]',
    ...(input.apiKey !== undefined ? [`api_key = ${q(input.apiKey)}`] : []),
    '',
    '[profile.default.tls]',
    `client_cert_path = ${q(input.certPath)}`,
    `client_key_path = ${q(input.keyPath)}`,
    `server_ca_cert_path = ${q(input.caPath)}`,
    `server_name = ${q(input.serverName)}`,
    '',
  ].join('\n');
}

export interface IdentityBundle extends CertificateFiles {
  dir: string;
  token?: string;
  /** The TOML profile, with paths as the identity's container sees them. */
  profile: string;
}

export interface LabloopCredentials {
  ca: CertificateAuthority;
  jwtKey: JwtSigningKey;
  server: CertificateFiles & { dir: string; jwks: string };
  identities: Record<LabloopIdentity, IdentityBundle>;
}

export interface IssueOptions {
  /** One folder per identity, and `server/`: each mounted into its own container only. */
  certsDir: string;
  /** The CA's key and the JWT signing key: never mounted anywhere. */
  caDir: string;
  namespace: string;
  serverName: string;
  dnsNames: readonly string[];
  ipAddresses?: readonly string[];
  tokenTtlSeconds: number;
  /** Where each identity's folder is mounted in its container (compose); default: where it is. */
  mountedAt?: (identity: LabloopIdentity) => string;
}

/**
 * A fresh CA, server certificate, JWT signing key, and per identity a client certificate, a token
 * and a TOML profile, laid out for compose: `<certsDir>/server/` for the Temporal server (cert, key,
 * jwks.json, ca.pem), `<certsDir>/<identity>/` for each client (client.pem, client.key, ca.pem,
 * temporal.toml, and `token` for the setup job's CLI).
 */
export function issueLabloopCredentials(options: IssueOptions): LabloopCredentials {
  const ca = createCertificateAuthority(options.caDir, 'ca', 'labloop Temporal CA');
  const jwtKey = createJwtSigningKey(options.caDir, `labloop-${new Date().toISOString().slice(0, 10)}`);
  writeFileSync(path.join(options.caDir, 'jwt-signing.key'), jwtKey.privateKeyPem, { mode: 0o600 });
  const serverDir = path.join(options.certsDir, 'server');
  mkdirSync(serverDir, { recursive: true });
  const serverCert = issueCertificate(ca, {
    name: 'server',
    commonName: options.serverName,
    usage: 'server',
    dnsNames: options.dnsNames,
    ipAddresses: options.ipAddresses ?? [],
  });
  const server = {
    dir: serverDir,
    cert: moveInto(serverCert.cert, serverDir, 'server.pem'),
    key: moveInto(serverCert.key, serverDir, 'server.key'),
    jwks: path.join(serverDir, 'jwks.json'),
  };
  copyFileSync(jwtKey.jwksFile, server.jwks);
  copyFileSync(ca.cert, path.join(serverDir, 'ca.pem'));
  const permissions = labloopPermissions(options.namespace);
  const identities = {} as Record<LabloopIdentity, IdentityBundle>;
  for (const identity of LABLOOP_IDENTITIES) {
    const dir = path.join(options.certsDir, identity);
    mkdirSync(dir, { recursive: true });
    const issued = issueCertificate(ca, {
      name: `client-${identity}`,
      commonName: `labloop-${identity}`,
      usage: 'client',
    });
    const cert = moveInto(issued.cert, dir, 'client.pem');
    const key = moveInto(issued.key, dir, 'client.key');
    copyFileSync(ca.cert, path.join(dir, 'ca.pem'));
    const token =
      identity === 'ui'
        ? undefined
        : mintTemporalToken(jwtKey, {
            subject: `labloop-${identity}`,
            permissions: permissions[identity],
            ttlSeconds: options.tokenTtlSeconds,
          });
    if (token !== undefined) writeFileSync(path.join(dir, 'token'), `${token}\n`, { mode: 0o640 });
    const seenAt = options.mountedAt?.(identity) ?? dir;
    const profile = path.join(dir, 'temporal.toml');
    writeFileSync(
      profile,
      temporalProfileToml({
        certPath: path.join(seenAt, 'client.pem'),
        keyPath: path.join(seenAt, 'client.key'),
        caPath: path.join(seenAt, 'ca.pem'),
        serverName: options.serverName,
        ...(token !== undefined ? { apiKey: token } : {}),
      }),
      { mode: 0o640 },
    );
    identities[identity] = { dir, cert, key, profile, ...(token !== undefined ? { token } : {}) };
  }
  return { ca, jwtKey, server, identities };
}

function moveInto(file: string, dir: string, name: string): string {
  const target = path.join(dir, name);
  renameSync(file, target);
  return target;
}
