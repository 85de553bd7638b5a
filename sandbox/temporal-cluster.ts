import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import Long from 'long';
import {
  issueCertificate,
  issueLabloopCredentials,
  type CertificateAuthority,
  type CertificateFiles,
  type JwtSigningKey,
} from '../lib/temporal/credentials';
import { registerSearchAttributes } from '../lib/temporal/search-attributes';
import { PROJECT_ROOT, temporalPostgresSchemaDir, temporalServerTool } from '../lib/tools';

/**
 * The real Temporal server (go.temporal.io/server, the binary the `temporalio/server` image runs) on
 * PostgreSQL, closed the way production is (docker-compose.yml): its schemas created by the SQL tool
 * as deploy/temporal/setup-schema.sh does, and the server configured by the image's own config
 * template (the server's embedded docker.yaml) from the same environment variables compose sets:
 * - the frontend requires mutual TLS with client certificates from labloop's Temporal CA;
 * - internode traffic (history, matching, internal frontend) is mutual TLS with the server cert;
 * - the default authorizer and JWT claim mapper (keys from a JWKS file) let each identity do only
 *   what its token's permissions say; the system worker goes through the internal frontend.
 * Every port is a free one on 127.0.0.1. Dev and test use only (tests, the production-shape launcher).
 */

export interface PostgresTarget {
  host: string;
  port: number;
  user: string;
  password: string;
}

export type ClusterIdentity = 'worker' | 'api' | 'setup';

export interface IdentityCredentials extends CertificateFiles {
  /** The JWT the client sends as `authorization: Bearer …` (TEMPORAL_API_KEY). */
  token: string;
  /** The envconfig TOML profile with all of the above (TEMPORAL_CONFIG_FILE), as compose mounts it. */
  profile: string;
}

export interface TemporalCluster {
  address: string;
  namespace: string;
  /** The CA that signs the server's and the clients' certificates. */
  ca: CertificateAuthority;
  /** The name the server certificate carries (TEMPORAL_TLS_SERVER_NAME). */
  serverName: string;
  jwtKey: JwtSigningKey;
  identities: Record<ClusterIdentity, IdentityCredentials>;
  /** The TEMPORAL_* connection settings (envconfig's) for one identity, each named. */
  clientEnv(identity: ClusterIdentity): Record<string, string>;
  /** The same through the identity's TOML profile, as docker-compose.yml connects labloop. */
  profileEnv(identity: ClusterIdentity): Record<string, string>;
  /** Issue another client certificate from the cluster's CA (rotation, per-identity tests). */
  issueClientCertificate(name: string, commonName: string): CertificateFiles;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  postgres: PostgresTarget;
  /** Working directory: certificates, keys, JWKS, dynamic config. */
  dir: string;
  /** Unique per cluster when several share one PostgreSQL server. */
  databaseNames?: { temporal: string; visibility: string };
  namespace?: string;
  onLog?: (line: string) => void;
}

export const SERVER_NAME = 'temporal';
/** Schema creation plus first start on a 2-core machine: ~10-20 s; two minutes is generous. */
const STARTUP_TIMEOUT_MS = 120_000;
const POLL_MS = 500;
/** Tokens of a test cluster live as long as the run could. */
const TOKEN_TTL_SECONDS = 6 * 3600;
/** Namespace retention: as deploy/temporal/setup-namespace.sh (30 days). */
const RETENTION_SECONDS = 30 * 86_400;

function runSql(sql: string, pg: PostgresTarget, args: string[]): void {
  const r = spawnSync(sql, ['--plugin', 'postgres12', '--ep', pg.host, '-p', String(pg.port), '-u', pg.user, ...args], {
    stdio: 'pipe',
    encoding: 'utf8',
    env: { ...process.env, SQL_PASSWORD: pg.password },
  });
  if (r.status !== 0) throw new Error(`temporal-sql-tool ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
}

/** deploy/temporal/setup-schema.sh, with the pinned release's schema files. */
export function setupTemporalSchemas(pg: PostgresTarget, names: { temporal: string; visibility: string }): void {
  const sql = temporalServerTool('sql');
  const schemaDir = temporalPostgresSchemaDir();
  for (const [db, schema] of [
    [names.temporal, 'temporal'],
    [names.visibility, 'visibility'],
  ] as const) {
    runSql(sql, pg, ['--db', db, 'create']);
    runSql(sql, pg, ['--db', db, 'setup-schema', '-v', '0.0']);
    runSql(sql, pg, ['--db', db, 'update-schema', '-d', path.join(schemaDir, schema, 'versioned')]);
  }
}

/** The server's environment: exactly the variables docker-compose.yml gives the temporal service. */
export function serverEnvironment(input: {
  pg: PostgresTarget;
  databaseNames: { temporal: string; visibility: string };
  ports: Record<string, number>;
  caFile: string;
  server: CertificateFiles;
  jwksFile: string;
  dynamicConfigFile: string;
}): Record<string, string> {
  const { pg, ports } = input;
  return {
    DB: 'postgres12',
    DBNAME: input.databaseNames.temporal,
    VISIBILITY_DBNAME: input.databaseNames.visibility,
    POSTGRES_SEEDS: pg.host,
    DB_PORT: String(pg.port),
    VISIBILITY_DB_PORT: String(pg.port),
    POSTGRES_USER: pg.user,
    POSTGRES_PWD: pg.password,
    BIND_ON_IP: '127.0.0.1',
    TEMPORAL_BROADCAST_ADDRESS: '127.0.0.1',
    DYNAMIC_CONFIG_FILE_PATH: input.dynamicConfigFile,
    LOG_LEVEL: process.env.LABLOOP_TEMPORAL_LOG_LEVEL ?? 'warn',
    // Mutual TLS: internode (server certificate both ways) and frontend (client certificates from the CA).
    TEMPORAL_TLS_REQUIRE_CLIENT_AUTH: 'true',
    TEMPORAL_TLS_SERVER_CA_CERT: input.caFile,
    TEMPORAL_TLS_SERVER_CERT: input.server.cert,
    TEMPORAL_TLS_SERVER_KEY: input.server.key,
    TEMPORAL_TLS_INTERNODE_SERVER_NAME: SERVER_NAME,
    TEMPORAL_TLS_FRONTEND_CERT: input.server.cert,
    TEMPORAL_TLS_FRONTEND_KEY: input.server.key,
    TEMPORAL_TLS_FRONTEND_SERVER_NAME: SERVER_NAME,
    // Two CA slots, so a CA rotation trusts the old and the new one for a while.
    TEMPORAL_TLS_CLIENT1_CA_CERT: input.caFile,
    TEMPORAL_TLS_CLIENT2_CA_CERT: input.caFile,
    // Who may do what: the token's permissions (default authorizer + JWT claim mapper).
    TEMPORAL_AUTH_AUTHORIZER: 'default',
    TEMPORAL_AUTH_CLAIM_MAPPER: 'default',
    TEMPORAL_JWT_KEY_SOURCE1: `file://${input.jwksFile}`,
    TEMPORAL_JWT_PERMISSIONS_CLAIM: 'permissions',
    // The server's own system workflows (schedules, ...) reach it through the internal frontend,
    // which needs no token (it is internode: mutual TLS with the server certificate).
    USE_INTERNAL_FRONTEND: 'true',
    FRONTEND_GRPC_PORT: String(ports.frontend),
    FRONTEND_HTTP_PORT: String(ports.frontendHttp),
    FRONTEND_MEMBERSHIP_PORT: String(ports.frontendMembership),
    INTERNAL_FRONTEND_GRPC_PORT: String(ports.internalFrontend),
    INTERNAL_FRONTEND_HTTP_PORT: String(ports.internalFrontendHttp),
    INTERNAL_FRONTEND_MEMBERSHIP_PORT: String(ports.internalFrontendMembership),
    HISTORY_GRPC_PORT: String(ports.history),
    HISTORY_MEMBERSHIP_PORT: String(ports.historyMembership),
    MATCHING_GRPC_PORT: String(ports.matching),
    MATCHING_MEMBERSHIP_PORT: String(ports.matchingMembership),
    WORKER_GRPC_PORT: String(ports.worker),
    WORKER_MEMBERSHIP_PORT: String(ports.workerMembership),
  };
}

/**
 * A free port on 127.0.0.1 below 32768: the server stores membership ports in a PostgreSQL
 * smallint, and the OS hands out ephemeral ports above it (Linux: 32768-60999). Tried at random in
 * 10000-32767, which also keeps clear of ports the OS is handing out to other tests.
 */
async function freePortBelowEphemeral(): Promise<number> {
  for (let tries = 0; tries < 100; tries++) {
    const port = 10_000 + Math.floor(Math.random() * (32_768 - 10_000));
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port below 32768 on 127.0.0.1 after 100 tries');
}

/** The services the image starts when USE_INTERNAL_FRONTEND is set. */
export const CLUSTER_SERVICES = ['frontend', 'internal-frontend', 'history', 'matching', 'worker'] as const;

export async function startTemporalCluster(options: ClusterOptions): Promise<TemporalCluster> {
  const serverBinary = temporalServerTool('server');
  const namespace = options.namespace ?? 'default';
  const databaseNames = options.databaseNames ?? { temporal: 'temporal', visibility: 'temporal_visibility' };
  mkdirSync(options.dir, { recursive: true });
  const credentials = issueLabloopCredentials({
    certsDir: path.join(options.dir, 'certs'),
    caDir: path.join(options.dir, 'ca'),
    namespace,
    serverName: SERVER_NAME,
    dnsNames: [SERVER_NAME, 'localhost'],
    ipAddresses: ['127.0.0.1'],
    tokenTtlSeconds: TOKEN_TTL_SECONDS,
  });
  const { ca, server, jwtKey } = credentials;
  const identities = {} as Record<ClusterIdentity, IdentityCredentials>;
  for (const identity of ['worker', 'api', 'setup'] as const) {
    const bundle = credentials.identities[identity];
    if (bundle.token === undefined) throw new Error(`no token issued for ${identity}`);
    identities[identity] = { cert: bundle.cert, key: bundle.key, token: bundle.token, profile: bundle.profile };
  }
  const dynamicConfigFile = path.join(options.dir, 'dynamicconfig.yaml');
  copyFileSync(path.join(PROJECT_ROOT, 'deploy/temporal-dynamicconfig/labloop.yaml'), dynamicConfigFile);
  setupTemporalSchemas(options.postgres, databaseNames);

  const portNames = [
    'frontend',
    'frontendHttp',
    'frontendMembership',
    'internalFrontend',
    'internalFrontendHttp',
    'internalFrontendMembership',
    'history',
    'historyMembership',
    'matching',
    'matchingMembership',
    'worker',
    'workerMembership',
  ];
  const ports: Record<string, number> = {};
  const taken = new Set<number>();
  for (const name of portNames) {
    let port = await freePortBelowEphemeral();
    while (taken.has(port)) port = await freePortBelowEphemeral();
    taken.add(port);
    ports[name] = port;
  }
  const env = serverEnvironment({
    pg: options.postgres,
    databaseNames,
    ports,
    caFile: ca.cert,
    server,
    jwksFile: server.jwks,
    dynamicConfigFile,
  });
  const child = spawn(serverBinary, ['start', ...CLUSTER_SERVICES.flatMap((s) => ['--service', s])], {
    cwd: options.dir,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? options.dir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const collect = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    output.push(text);
    if (output.length > 300) output.shift();
    options.onLog?.(text);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const address = `127.0.0.1:${ports.frontend}`;
  const clientEnv = (identity: ClusterIdentity): Record<string, string> => ({
    TEMPORAL_ADDRESS: address,
    TEMPORAL_NAMESPACE: namespace,
    TEMPORAL_TLS: 'true',
    TEMPORAL_TLS_CLIENT_CERT_PATH: identities[identity].cert,
    TEMPORAL_TLS_CLIENT_KEY_PATH: identities[identity].key,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca.cert,
    TEMPORAL_TLS_SERVER_NAME: SERVER_NAME,
    TEMPORAL_API_KEY: identities[identity].token,
  });
  const profileEnv = (identity: ClusterIdentity): Record<string, string> => ({
    TEMPORAL_ADDRESS: address,
    TEMPORAL_NAMESPACE: namespace,
    TEMPORAL_CONFIG_FILE: identities[identity].profile,
  });
  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await setUpNamespace({ address, namespace, ca, identity: identities.setup, exited });
  } catch (err) {
    await stop();
    throw new Error(`the Temporal server did not start: ${(err as Error).message}\n${output.join('').slice(-3000)}`, {
      cause: err,
    });
  }
  return {
    address,
    namespace,
    ca,
    serverName: SERVER_NAME,
    jwtKey,
    identities,
    clientEnv,
    profileEnv,
    issueClientCertificate: (name, commonName) => issueCertificate(ca, { name, commonName, usage: 'client' }),
    stop,
  };
}

/**
 * As deploy/temporal/setup-namespace.sh does, with the setup job's identity: wait for the frontend,
 * create the namespace, register the search attributes, and wait until the namespace serves.
 */
async function setUpNamespace(input: {
  address: string;
  namespace: string;
  ca: CertificateAuthority;
  identity: IdentityCredentials;
  exited: Promise<number | null>;
}): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let exitCode: number | null | undefined;
  void input.exited.then((code) => (exitCode = code));
  const attempt = async <T>(what: string, step: () => Promise<T>): Promise<T> => {
    for (;;) {
      if (exitCode !== undefined) throw new Error(`the server exited with code ${String(exitCode)}`);
      try {
        return await step();
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`${what}: ${(err as Error).message}`, { cause: err });
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    }
  };
  const connection = await attempt('connect', () =>
    Connection.connect({
      address: input.address,
      connectTimeout: 2000,
      apiKey: input.identity.token,
      tls: {
        serverNameOverride: SERVER_NAME,
        serverRootCACertificate: readFileSync(input.ca.cert),
        clientCertPair: { crt: readFileSync(input.identity.cert), key: readFileSync(input.identity.key) },
      },
    }),
  );
  try {
    await attempt('register the namespace', async () => {
      try {
        await connection.workflowService.registerNamespace({
          namespace: input.namespace,
          workflowExecutionRetentionPeriod: { seconds: Long.fromNumber(RETENTION_SECONDS) },
        });
      } catch (err) {
        // ALREADY_EXISTS: a retry after a registration whose answer was lost.
        if ((err as { code?: number }).code !== 6) throw err;
      }
    });
    await attempt('register search attributes', () => registerSearchAttributes(connection, input.namespace));
    await attempt('describe the namespace', () =>
      connection.workflowService.describeNamespace({ namespace: input.namespace }),
    );
  } finally {
    await connection.close();
  }
}
