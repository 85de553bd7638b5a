import { existsSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { NativeConnection } from '@temporalio/worker';
import { createDataConverter } from './data-converter';

/**
 * Temporal connection settings follow @temporalio/envconfig: the TEMPORAL_* environment variables
 * and an optional TOML profile, so a local dev server, a self-hosted cluster and Temporal Cloud
 * (address + namespace + API key or mTLS) differ by configuration only.
 */
export interface TemporalTarget {
  address: string;
  namespace: string;
  connectionOptions: ReturnType<typeof loadClientConnectConfig>['connectionOptions'];
}

export function resolveTemporalTarget(env: NodeJS.ProcessEnv = process.env): TemporalTarget {
  const given = temporalEnv(env);
  const configFile = given.TEMPORAL_CONFIG_FILE;
  // envconfig quietly ignores a config file that is not there; one named explicitly must exist.
  if (configFile !== undefined && !existsSync(configFile)) {
    throw new Error(`TEMPORAL_CONFIG_FILE=${configFile} does not exist`);
  }
  const { connectionOptions, namespace } = loadClientConnectConfig({ overrideEnvVars: given });
  const address = connectionOptions.address ?? 'localhost:7233';
  return { address, namespace: namespace ?? 'default', connectionOptions: { ...connectionOptions, address } };
}

/**
 * The environment as envconfig should see it: an empty value is an unset one. docker compose
 * passes `${TEMPORAL_API_KEY:-}` as '', and envconfig would take '' for an API key and turn TLS on
 * against a plaintext self-hosted server. TEMPORAL_GRPC_META_* keep their empty values: there ''
 * means "remove this header from the profile".
 */
function temporalEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    if (v === '' && !k.startsWith('TEMPORAL_GRPC_META_')) continue;
    out[k] = v;
  }
  return out;
}

/**
 * The TEMPORAL_* settings that say how to connect (envconfig's), out of a whole environment, so a
 * launcher can hand exactly these to the worker and the API. Others that share the prefix
 * (TEMPORAL_CLI_PATH, TEMPORAL_UI_ORIGINS, ...) are not connection settings.
 */
export const TEMPORAL_CONNECTION_SETTING =
  /^TEMPORAL_(ADDRESS|NAMESPACE|API_KEY|TLS|TLS_[A-Z_]+|PROFILE|CONFIG_FILE|GRPC_META_.+)$/;

export function temporalConnectionSettings(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(temporalEnv(env))) if (TEMPORAL_CONNECTION_SETTING.test(k)) out[k] = v;
  return out;
}

/** One client per process (never per request). Caller closes `client.connection`. */
export async function connectClient(codecKeys: string, env: NodeJS.ProcessEnv = process.env): Promise<Client> {
  const target = resolveTemporalTarget(env);
  const connection = await Connection.connect(target.connectionOptions);
  return new Client({ connection, namespace: target.namespace, dataConverter: createDataConverter(codecKeys) });
}

export async function connectNative(env: NodeJS.ProcessEnv = process.env): Promise<{
  connection: NativeConnection;
  namespace: string;
}> {
  const target = resolveTemporalTarget(env);
  const connection = await NativeConnection.connect(target.connectionOptions);
  return { connection, namespace: target.namespace };
}
