import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { DestinationStream } from 'pino';
import type { Client } from '@temporalio/client';
import type { NativeConnection, Worker, WorkflowBundleOption } from '@temporalio/worker';
import type { Pool } from 'pg';
import { createActivities } from '../activities';
import { startApi, type RunningApi } from '../api/start-api';
import { loadConfig, type AppConfig } from '../lib/config';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../lib/db/embedded-postgres';
import { migrateUp } from '../lib/db/migrate';
import { createPool } from '../lib/db/pool';
import { freePort } from '../lib/free-port';
import { createLogger } from '../lib/logger';
import { loadPracticeRegistry, type PracticeRegistry } from '../lib/practices';
import { connectClient, connectNative } from '../lib/temporal/connection';
import { installTemporalRuntime } from '../lib/temporal/runtime';
import { startDevServer, type DevServer } from '../lib/temporal/dev-server';
import { buildActivityDeps } from '../worker/build-activity-deps';
import { createLabloopWorker } from '../worker/create-worker';
import { SEARCH_ATTRIBUTES, TASK_QUEUE } from '../workflows/definitions';
import { startAthenaFake, type AthenaFake } from './fakes/athena';
import { startSpruceFake, type SpruceFake } from './fakes/spruce';
import { startTwilioFake, type TwilioFake } from './fakes/twilio';
import { generateSandboxSecrets, type SandboxSecrets } from './secrets';

/**
 * The whole loop on one machine: PostgreSQL (given or embedded), Temporal (given or the dev server
 * with its UI), the local fakes of Twilio, Spruce and athenahealth, the worker and the API. `npm
 * start` runs it for people; the end-to-end tests run exactly the same assembly.
 */
export interface StackOptions {
  /** Persistent state (database, Temporal SQLite); a throwaway temp directory when absent. */
  dataDir?: string;
  secrets?: SandboxSecrets;
  /** Create the database on this server (admin URL) instead of starting an embedded one. */
  postgresAdminUrl?: string;
  /** Use this database as it is. */
  databaseUrl?: string;
  /** Use this Temporal server instead of starting the dev server. */
  temporalAddress?: string;
  temporalUi?: boolean;
  /** Preferred ports; a taken port falls back to a free one. 0 = any. */
  ports?: Partial<Record<'api' | 'mllp' | 'temporal' | 'temporalUi' | 'twilio' | 'spruce' | 'athena', number>>;
  taskQueue?: string;
  workflowBundle?: WorkflowBundleOption;
  logLevel?: string;
  logDestination?: DestinationStream;
  /** Practice registry file (default config/practices.sandbox.json). */
  practicesFile?: string;
  /** Twilio fake callback pacing (tests make it fast). */
  twilioCallbackDelaysMs?: { sent?: number; delivered?: number };
}

export interface Stack {
  urls: {
    api: string;
    review: string;
    mllp: string;
    temporal: string;
    temporalUi?: string;
    twilio: string;
    spruce: string;
    athena: string;
  };
  config: AppConfig;
  secrets: SandboxSecrets;
  pool: Pool;
  temporal: Client;
  practices: PracticeRegistry;
  taskQueue: string;
  fakes: { twilio: TwilioFake; spruce: SpruceFake; athena: AthenaFake };
  stop(): Promise<void>;
}

async function pickPort(preferred: number | undefined): Promise<number> {
  if (preferred === undefined || preferred === 0) return freePort();
  try {
    const { createServer } = await import('node:net');
    await new Promise<void>((resolve, reject) => {
      const probe = createServer();
      probe.once('error', reject);
      probe.listen(preferred, '127.0.0.1', () => probe.close(() => resolve()));
    });
    return preferred;
  } catch {
    return freePort();
  }
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch {
        // Keep stopping the rest; a half-stopped stack is worse than a noisy one.
      }
    }
  };
  try {
    const secrets = options.secrets ?? generateSandboxSecrets();
    const taskQueue = options.taskQueue ?? TASK_QUEUE;
    const apiPort = await pickPort(options.ports?.api);
    const mllpPort = await pickPort(options.ports?.mllp);
    const apiUrl = `http://127.0.0.1:${apiPort}`;

    // PostgreSQL
    let databaseUrl = options.databaseUrl;
    if (databaseUrl === undefined) {
      let embedded: EmbeddedDatabase | undefined;
      let adminUrl = options.postgresAdminUrl;
      if (adminUrl === undefined) {
        const pgDir = options.dataDir === undefined ? undefined : path.join(options.dataDir, 'postgres');
        embedded = await startEmbeddedPostgres({ dataDir: pgDir });
        stops.push(() => embedded!.stop());
        adminUrl = embedded.adminUrl;
      }
      databaseUrl = await createDatabaseOn(adminUrl, options.dataDir === undefined ? `labloop_${Date.now().toString(36)}` : 'labloop');
    }

    // Temporal
    let temporalAddress = options.temporalAddress;
    let temporalUi: string | undefined;
    if (temporalAddress === undefined) {
      if (options.dataDir !== undefined) mkdirSync(options.dataDir, { recursive: true });
      const server: DevServer = await startDevServer({
        port: await pickPort(options.ports?.temporal),
        uiPort: options.temporalUi === false ? undefined : await pickPort(options.ports?.temporalUi),
        headless: options.temporalUi === false,
        dbFilename: options.dataDir === undefined ? undefined : path.join(options.dataDir, 'temporal.sqlite'),
        searchAttributes: SEARCH_ATTRIBUTES,
        uiCodecEndpoint: `${apiUrl}/codec`,
      });
      stops.push(() => server.stop());
      temporalAddress = server.address;
      temporalUi = server.uiUrl;
    }

    // Local fakes of the outside world, wired to call the API's webhooks.
    const twilio = await startTwilioFake({
      accountSid: secrets.twilioAccountSid,
      authToken: secrets.twilioAuthToken,
      port: await pickPort(options.ports?.twilio),
      inboundUrl: `${apiUrl}/webhooks/twilio/inbound`,
      callbackDelaysMs: options.twilioCallbackDelaysMs,
    });
    stops.push(() => twilio.close());
    const spruce = await startSpruceFake({
      token: secrets.spruceToken,
      webhookSecret: secrets.spruceWebhookSecret,
      webhookUrl: `${apiUrl}/webhooks/spruce`,
      port: await pickPort(options.ports?.spruce),
    });
    stops.push(() => spruce.close());
    const athena = await startAthenaFake({
      clientId: secrets.athenaClientId,
      clientSecret: secrets.athenaClientSecret,
      webhook: { url: `${apiUrl}/webhooks/athena`, secret: secrets.athenaWebhookSecret },
      port: await pickPort(options.ports?.athena),
    });
    stops.push(() => athena.close());

    const env: NodeJS.ProcessEnv = {
      NODE_ENV: 'development',
      LOG_LEVEL: options.logLevel ?? 'info',
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: temporalAddress,
      TEMPORAL_NAMESPACE: process.env.TEMPORAL_NAMESPACE ?? 'default',
      LABLOOP_CODEC_KEYS: secrets.codecKeys,
      LABLOOP_ID_SECRET: secrets.idSecret,
      LABLOOP_PRACTICES_FILE: options.practicesFile ?? process.env.LABLOOP_PRACTICES_FILE ?? 'config/practices.sandbox.json',
      API_HOST: '127.0.0.1',
      API_PORT: String(apiPort),
      MLLP_HOST: '127.0.0.1',
      MLLP_PORT: String(mllpPort),
      PUBLIC_BASE_URL: apiUrl,
      LABLOOP_API_TOKENS: `sandbox:${secrets.apiToken}`,
      LABLOOP_OPS_TOKENS: `sandbox-ops:${secrets.opsToken}`,
      LABLOOP_ADMIN_TOKENS: `sandbox-admin:${secrets.adminToken}`,
      // The Web UI decrypts payloads through the API's codec endpoint; the browser may reach the UI by either name.
      ...(temporalUi !== undefined ? { TEMPORAL_UI_ORIGINS: uiOrigins(temporalUi).join(',') } : {}),
      TWILIO_ACCOUNT_SID: secrets.twilioAccountSid,
      TWILIO_AUTH_TOKEN: secrets.twilioAuthToken,
      TWILIO_MESSAGING_SERVICE_SID: secrets.twilioMessagingServiceSid,
      TWILIO_API_BASE_URL: twilio.url,
      SPRUCE_API_TOKEN: secrets.spruceToken,
      SPRUCE_API_BASE_URL: spruce.url,
      SPRUCE_WEBHOOK_SECRET: secrets.spruceWebhookSecret,
      ATHENA_BASE_URL: athena.url,
      ATHENA_CLIENT_ID: secrets.athenaClientId,
      ATHENA_CLIENT_SECRET: secrets.athenaClientSecret,
      ATHENA_WEBHOOK_SECRET: secrets.athenaWebhookSecret,
    };
    const config = loadConfig(env);
    const logger = createLogger(config.LOG_LEVEL, 'labloop', options.logDestination);
    const practices = loadPracticeRegistry(config.LABLOOP_PRACTICES_FILE);
    installTemporalRuntime(logger);

    await migrateUp(databaseUrl);
    const pool = createPool(databaseUrl);
    stops.push(() => pool.end());

    // Worker
    const native: { connection: NativeConnection; namespace: string } = await connectNative(env);
    stops.push(() => native.connection.close());
    const worker: Worker = await createLabloopWorker({
      connection: native.connection,
      namespace: native.namespace,
      codecKeys: config.LABLOOP_CODEC_KEYS,
      activities: createActivities(buildActivityDeps(config, pool)),
      taskQueue,
      workflowBundle: options.workflowBundle,
    });
    const workerRun = worker.run();
    stops.push(async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await workerRun;
    });

    // API
    const temporal = await connectClient(config.LABLOOP_CODEC_KEYS, env);
    stops.push(() => temporal.connection.close());
    const api: RunningApi = await startApi({ config, pool, temporal, practices, logger, taskQueue });
    stops.push(() => api.close());

    return {
      urls: {
        api: apiUrl,
        review: `${apiUrl}/review`,
        mllp: `mllp://127.0.0.1:${api.mllpPort}`,
        temporal: temporalAddress,
        temporalUi,
        twilio: twilio.url,
        spruce: spruce.url,
        athena: athena.url,
      },
      config,
      secrets,
      pool,
      temporal,
      practices,
      taskQueue,
      fakes: { twilio, spruce, athena },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** The UI's origin as given and with 127.0.0.1 and localhost swapped. */
function uiOrigins(uiUrl: string): string[] {
  const url = new URL(uiUrl);
  const other = url.hostname === '127.0.0.1' ? 'localhost' : url.hostname === 'localhost' ? '127.0.0.1' : undefined;
  const origins = [url.origin];
  if (other !== undefined) origins.push(`${url.protocol}//${other}${url.port === '' ? '' : `:${url.port}`}`);
  return origins;
}

async function createDatabaseOn(adminUrl: string, name: string): Promise<string> {
  const { default: pg } = await import('pg');
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
