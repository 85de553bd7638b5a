/**
 * Issue the credentials of the closed Temporal cluster docker-compose.yml runs (docs/security.md,
 * "Temporal"): a CA, the server's certificate, a JWT signing key, and per identity (worker, api,
 * setup, ui) a client certificate, a token and an envconfig TOML profile, one folder each, so each
 * container mounts its own folder only. The CA key and the signing key go to a separate folder that
 * no container mounts: keep it offline.
 *
 * Usage: tsx scripts/temporal-credentials.ts [--certs deploy/temporal-certs] [--ca deploy/temporal-ca]
 *        [--namespace default] [--token-days 90]
 * Refuses to overwrite an existing CA: rotation is a new --certs/--ca pair (see docs/security.md).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { issueLabloopCredentials } from '../lib/temporal/credentials';

/** Tokens are re-issued on a schedule; 90 days keeps a leaked one short-lived without weekly churn. */
const DEFAULT_TOKEN_DAYS = 90;
/** Where docker-compose.yml mounts each identity's folder. */
const CONTAINER_DIR = '/etc/labloop/temporal-certs';

function main(): void {
  const { values } = parseArgs({
    options: {
      certs: { type: 'string', default: 'deploy/temporal-certs' },
      ca: { type: 'string', default: 'deploy/temporal-ca' },
      namespace: { type: 'string', default: 'default' },
      'token-days': { type: 'string', default: String(DEFAULT_TOKEN_DAYS) },
    },
  });
  const caDir = path.resolve(values.ca);
  if (existsSync(path.join(caDir, 'ca.key'))) {
    throw new Error(`${caDir}/ca.key exists: issue a new CA into another folder (rotation), never over a live one`);
  }
  const days = Number(values['token-days']);
  if (!Number.isInteger(days) || days < 1 || days > 366) throw new Error('--token-days must be 1-366');
  const issued = issueLabloopCredentials({
    certsDir: path.resolve(values.certs),
    caDir,
    namespace: values.namespace,
    serverName: 'temporal',
    dnsNames: ['temporal', 'localhost'],
    ipAddresses: ['127.0.0.1'],
    tokenTtlSeconds: days * 86_400,
    mountedAt: () => CONTAINER_DIR,
  });
  console.error(
    `[temporal-credentials] CA and signing key in ${caDir} (keep offline); ` +
      `server and ${Object.keys(issued.identities).join(', ')} folders in ${path.resolve(values.certs)}; ` +
      `tokens expire in ${days} days`,
  );
}

try {
  main();
} catch (err) {
  console.error(`[temporal-credentials] ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
