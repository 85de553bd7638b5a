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
  const { connectionOptions, namespace } = loadClientConnectConfig({ overrideEnvVars: stringEnv(env) });
  const address = connectionOptions.address ?? 'localhost:7233';
  return { address, namespace: namespace ?? 'default', connectionOptions: { ...connectionOptions, address } };
}

function stringEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
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
